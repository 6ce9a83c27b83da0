"""The terminal report of `csms simulate` (rich)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from csms.simulate.engine import Result
from csms.simulate.scenario import format_time


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def render(result: Result) -> RenderableType:
    """Energy per EV, then grid, fairness and departures in a few lines."""
    evs = Table(title=f"Site {result.site.id}: energy per EV", expand=False)
    for column in ("EV", "socket", "present", "need", "energy", "paused", "departure"):
        evs.add_column(column, justify="right" if column in ("need", "energy") else "left")
    for e in result.evs:
        visit = e.visit
        leaves_within = e.gone
        evs.add_row(
            visit.name,
            f"{visit.station}/{visit.connector}",
            f"{format_time(e.arrive_s)}–{format_time(e.leave_s)}",
            f"{visit.need_kwh:.1f} kWh",
            f"{e.energy_kwh:.2f} kWh",
            _hours(e.paused_s),
            Text("missed", style="bold red")
            if e.missed
            else Text("met" if leaves_within else "after the run", style="green"),
        )
    tally = result.tally
    peak = " ".join(f"L{p + 1} {a:.1f} A" for p, a in enumerate(tally.peak_a))
    grid = Text.assemble(
        f"Grid limit {result.site.grid_limit_a:g} A per phase; peak {peak}.\n",
        f"Above the limit: {tally.above_s:.0f} s, {tally.amp_s:.0f} A·s in "
        f"{tally.episodes} episode(s); ",
        (
            f"{tally.beyond_reaction_s:.0f} s ({tally.beyond_reaction_amp_s:.0f} A·s) beyond the "
            f"{result.reaction_s:.0f} s reaction time.",
            "bold green" if tally.beyond_reaction_s == 0 else "bold red",
        ),
    )
    mean, worst = result.fairness.index()
    fairness = (
        "Fairness: equal EVs never wanted current at the same time."
        if mean is None
        else f"Fairness (Jain, equal EVs wanting current together): {mean:.3f} over their time "
        f"together ({worst:.3f} worst group), {result.fairness.moment_index() or 0:.3f} "
        "moment by moment."
    )
    missed = [e for e in result.evs if e.missed]
    departures = Text.assemble(
        f"Delivered {result.delivered_kwh:.1f} kWh in {_hours(result.simulated_s)}. ",
        (
            f"Missed departures: {len(missed)}"
            + (": " + ", ".join(f"{e.visit.name} short {e.visit.need_kwh - e.energy_kwh:.1f} kWh"
                               for e in missed) if missed else "."),
            "bold red" if missed else "green",
        ),
    )  # fmt: skip
    return Group(evs, grid, Text(fairness), departures)
