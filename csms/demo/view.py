"""The demo's terminal view (rich): grid current per phase against the limit, each socket's limit
and binding source, and the closing summary."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from csms.demo.run import SITE_ID, DemoState, DemoSummary
from csms.demo.scenario import household_a, pv_a

BAR = 20


def _clock(seconds: float) -> str:
    seconds = int(seconds) % 86400
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _bar(value: float, limit: float) -> Text:
    filled = max(0, min(BAR, round(BAR * value / (limit * 1.2))))
    mark = round(BAR / 1.2)
    style = "red" if value > limit + 0.05 else "yellow" if value > limit - 1 else "green"
    text = Text()
    for i in range(BAR):
        if i == mark:
            text.append("|", style="bold")
        text.append("█" if i < filled else "·", style=style if i < filled else "dim")
    return text


def render(state: DemoState) -> RenderableType:
    """One frame of the live view."""
    options = state.options
    grid = state.meter.values()
    tod = state.time_of_day()
    household, pv = household_a(tod), pv_a(tod)
    header = Text.assemble(
        ("csms demo ", "bold"),
        f"· {_clock(tod)} simulated · speed {options.sim_speed:g}× · ",
        f"{state.elapsed_s / 3600:.1f} h of {options.duration_s / 3600:.1f} h · ",
        f"grid limit {options.grid_limit_a:g} A per phase",
    )
    phases = Table(title="Grid connection (meter: household − PV + EVs)", expand=False)
    phases.add_column("phase")
    phases.add_column("current", justify="right")
    phases.add_column(f"vs {options.grid_limit_a:g} A")
    phases.add_column("peak", justify="right")
    phases.add_column("household", justify="right")
    phases.add_column("PV", justify="right")
    for p in range(3):
        phases.add_row(
            f"L{p + 1}",
            f"{grid.current_a[p]:.1f} A",
            _bar(grid.current_a[p], options.grid_limit_a),
            f"{state.tally.peak_a[p]:.1f} A",
            f"{household[p]:.1f} A",
            f"{pv[p]:.1f} A",
        )
    read = state.cs.charging.read_site(SITE_ID, state.cs.clock())
    meter = "?" if read is None else read.meter_health["state"]
    safe = read is not None and read.allocation is not None and read.allocation.safe_mode
    connectors = () if read is None else read.connectors
    limits = {(c.station_id, c.connector_id): c.limit for c in connectors}
    status = Text.assemble(
        f"meter {meter}",
        (" · SAFE MODE" if safe else "", "bold red"),
        f" · above the limit {state.tally.above_s:.0f} s / {state.tally.amp_s:.0f} A·s",
        f" ({state.tally.beyond_reaction_s:.0f} s / {state.tally.beyond_reaction_amp_s:.0f} A·s "
        f"beyond the {state.tally.reaction_s:.0f} s reaction time)",
    )
    sockets = Table(title="Sockets", expand=False)
    for column in ("socket", "EV", "status", "limit", "offered/drawn", "binding", "energy"):
        right = column in ("limit", "offered/drawn", "energy")
        sockets.add_column(
            column,
            justify="right" if right else "left",
            no_wrap=column != "binding",
            min_width=12 if column == "binding" else None,
        )
    for station in state.site.stations:
        for connector in range(1, station.sockets + 1):
            key = (station.station_id, connector)
            visit = state.plugged.get(key)
            limit = limits.get(key)
            sockets.add_row(
                f"{station.station_id}/{connector}",
                "" if visit is None else f"{visit[0].name} {visit[0].phases}ph",
                station.status(connector),
                "" if limit is None else f"{limit.value_a:.1f} A",
                f"{station.applied_current(connector):.1f}/{station.ev_current(connector):.1f} A",
                "" if limit is None else f"{limit.source} {limit.detail}".strip(),
                "" if visit is None else f"{visit[1].charged_wh / 1000:.1f} kWh",
            )
    return Group(header, phases, status, sockets)


def render_summary(summary: DemoSummary) -> RenderableType:
    """The closing summary."""
    grid = Table(title="Grid current per phase", expand=False)
    grid.add_column("phase")
    grid.add_column("peak", justify="right")
    grid.add_column("limit", justify="right")
    for p, peak in enumerate(summary.peak_a):
        style = "red" if peak > summary.grid_limit_a + 0.05 else "green"
        grid.add_row(f"L{p + 1}", Text(f"{peak:.1f} A", style=style), f"{summary.grid_limit_a:g} A")
    evs = Table(title="Energy delivered per EV", expand=False)
    evs.add_column("EV")
    evs.add_column("socket")
    evs.add_column("energy", justify="right")
    for ev in summary.evs:
        evs.add_row(ev.name, ev.socket, f"{ev.energy_kwh:.2f} kWh")
    verdict = Text.assemble(
        f"Simulated {summary.simulated_s / 3600:.1f} h at {summary.speed:g}×. Above the grid "
        f"limit: {summary.seconds_above_limit:.0f} s ({summary.amp_s_above_limit:.0f} A·s) in "
        f"{summary.episodes_above} episode(s); ",
        (
            f"{summary.seconds_above_beyond_reaction:.0f} s "
            f"({summary.amp_s_beyond_reaction:.0f} A·s) beyond the "
            f"{summary.reaction_s:.0f} s reaction time.",
            "bold green" if summary.seconds_above_beyond_reaction == 0 else "bold red",
        ),
    )
    return Group(grid, evs, verdict)
