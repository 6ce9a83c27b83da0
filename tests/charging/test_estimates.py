"""The control loop's estimate of each EV's current, which it takes out of the grid meter to find
the household: it must err safe (never more than the EV was measured drawing)."""

from __future__ import annotations

import itertools

import pytest

from csms.charging.model import SiteModel
from csms.settings import SiteSettings
from tests.support.closed_loop import ClosedLoop, Tick

A = "ALF-0001"


def model(**site: object) -> SiteModel:
    settings = SiteSettings.model_validate({"id": "s", "stations": [{"id": A}]} | site)
    return SiteModel(settings)


def sample(m: SiteModel, grid: tuple[float, float, float], at: float) -> None:
    values = {("Current.Import", f"L{p + 1}"): grid[p] for p in range(3)}
    m.sampled(A, 1, values, received_at=at)


# Limits the station applied: 6 A from t=0, 10 A from t=9 (the sample arrives at t=10).
HISTORY = [(0.0, 6.0), (9.0, 10.0)]


@pytest.mark.parametrize(
    ("name", "grid", "history", "reading_at", "expected"),
    [
        ("no profile known: the sample", (5.0, 5.0, 5.0), [], 20.0, (5.0, 5.0, 5.0)),
        ("the sample, below its limit", (7.0, 7.0, 7.0), [(0.0, 10.0)], 20.0, (7.0, 7.0, 7.0)),
        ("a sample above the limit in force: the limit", (12.0, 12.0, 12.0), [(0.0, 10.0)],
         20.0, (10.0, 10.0, 10.0)),
        ("raised after the sample: what it drew, not the new limit", (6.0, 6.0, 6.0), HISTORY,
         20.0, (6.0, 6.0, 6.0)),
        ("cut before the reading: the new limit", (10.0, 10.0, 10.0), [(0.0, 10.0), (15.0, 7.0)],
         20.0, (7.0, 7.0, 7.0)),
        ("meter read before a raise: the limit then", (9.0, 9.0, 9.0), HISTORY, 8.0,
         (6.0, 6.0, 6.0)),
        ("meter read before several changes", (9.0, 9.0, 9.0),
         [(0.0, 1.5), (5.0, 7.0), (6.0, 9.0)], 4.0, (0.0, 0.0, 0.0)),
        ("meter read before the session started", (9.0, 9.0, 9.0), [(0.0, 10.0)], -5.0,
         (0.0, 0.0, 0.0)),
        ("one-phase EV stays on its phase", (0.0, 6.0, 0.0), HISTORY, 20.0, (0.0, 6.0, 0.0)),
        ("never sampled: nothing taken out", None, [(0.0, 10.0)], 20.0, None),
        ("below the minimum current the EV pauses", (8.0, 8.0, 8.0), [(0.0, 1.5)], 20.0,
         (0.0, 0.0, 0.0)),
        ("an EV drawing less than offered: what it draws", (4.0, 4.0, 4.0), HISTORY, 20.0,
         (4.0, 4.0, 4.0)),
        ("paused and resumed a moment ago: it may not draw yet", (10.0, 10.0, 10.0),
         [(0.0, 10.0), (12.0, 0.0), (13.0, 10.0)], 16.0, (0.0, 0.0, 0.0)),
        ("resumed longer ago than an EV takes to follow: what it drew", (10.0, 10.0, 10.0),
         [(0.0, 10.0), (12.0, 0.0), (13.0, 10.0)], 20.0, (10.0, 10.0, 10.0)),
        ("cut and raised a moment ago: it may still follow the cut", (10.0, 10.0, 10.0),
         [(0.0, 10.0), (11.0, 7.0), (12.0, 10.0)], 14.0, (7.0, 7.0, 7.0)),
        ("started by a swap, not drawing yet: 0, not the offer", (0.0, 0.0, 0.0),
         [(0.0, 0.0), (9.0, 7.5)], 20.0, (0.0, 0.0, 0.0)),
    ],
)  # fmt: skip
def test_ev_estimate_is_the_lower_plausible_current(name, grid, history, reading_at, expected):
    m = model()
    m.status(A, 1, "Charging")
    m.started(A, 1, 1, 0.0)
    if grid is not None:
        sample(m, grid, at=10.0)
    for since, limit in history:
        m.note_limit((A, 1), since, limit)
    assert m.ev_estimate((A, 1), reading_at) == expected, name


def test_a_new_session_inherits_nothing_measured_of_the_previous_ev():
    m = model()
    m.status(A, 1, "Charging")
    m.started(A, 1, 1, 0.0)
    sample(m, (0.0, 10.0, 0.0), at=10.0)  # a one-phase EV on L2
    m.note_limit((A, 1), 0.0, 10.0)
    m.stopped(1)
    m.started(A, 1, 2, 100.0)  # a new EV on the same connector, not measured yet
    m.note_limit((A, 1), 100.0, 10.0)
    assert m.ev_estimate((A, 1), 120.0) is None


# -- in a closed loop --------------------------------------------------------------------------
SWAP_SITE = {
    "grid_limit_a": 25,
    "margin_a": 1,
    "safe_current_a": 6,
    "alternating_period_s": 60,
    "ramp_a_per_s": 1.0,
}


def longest_over(ticks: list[Tick], limit: float) -> float:
    """The longest stretch (s) the grid spent above `limit` on any phase."""
    longest, since = 0.0, None
    for tick in ticks:
        if max(tick.grid_a) > limit + 1e-6:
            since = tick.at if since is None else since
            longest = max(longest, tick.at - since)
        else:
            since = None
    return longest


@pytest.mark.parametrize("sample_s", [1.0, 5.0, 10.0])
def test_a_swap_starting_three_3_phase_evs_keeps_the_grid_within_its_limit(sample_s):
    # Six 3-phase EVs on 24 A (25 A less the margin), 1.5 A household: three charge at 7.5 A
    # while three wait; every minute they swap. The EVs follow a new limit 2 s late.
    stations = [f"ALF-{n:04d}" for n in range(1, 7)]
    site = ClosedLoop(SWAP_SITE, stations, household_a=1.5, sample_s=sample_s, ev_react_s=2.0)
    for station_id in stations:
        site.plug_in(station_id, max_a=16.0)
    site.run(200.0)

    drawing = [
        frozenset(s for s, ev in site.evs.items() if ev.current(t.at, 2.0, 6.0) > 0)
        for t in site.ticks
    ]
    starts = [
        (before, after) for before, after in itertools.pairwise(drawing) if len(after - before) == 3
    ]
    assert starts, "no swap started three EVs at once"
    # Over the limit only while EVs catch up with a cut: the EVs' delay, the station's answer and
    # one control step.
    reaction_s = 2.0 + 0.3 + 0.25
    assert longest_over(site.ticks, 25.0) <= reaction_s, max(max(t.grid_a) for t in site.ticks)
    assert not any(t.step.meter_check.alarm for t in site.ticks)  # the meter sees the EVs


@pytest.mark.parametrize(("sample_s", "ev_react_s"), [(1.0, 0.25), (1.0, 1.0), (2.0, 1.0)])
def test_a_raise_on_a_full_grid_is_not_taken_back_by_the_ev_sample_that_predates_it(
    sample_s, ev_react_s
):
    # Two 3-phase EVs at 10 A on 24 A with 4 A household; the household drops to 2 A, so each
    # may have 11 A. Right after a raise the EV's last sample is its old current: the household
    # looks larger by what the EV already draws of the raise. That must not be read as the
    # grid overloading (an urgent cut of the raise's size, 0.1 s after it, then the raise again
    # at the next renewal: two writes per connector every renewal), nor be carried back to the
    # station by a renewal. The household only fell, so no limit may ever go down.
    site = ClosedLoop(
        {"grid_limit_a": 25, "margin_a": 1, "safe_current_a": 6},
        ["A", "B"],
        household_a=4.0,
        sample_s=sample_s,
        ev_react_s=ev_react_s,
        charging={"profile_validity_s": 4},  # a renewal every 2 s; raises held 30 s
    )
    site.plug_in("A", max_a=32.0)
    site.plug_in("B", max_a=32.0)
    site.run(30.0)
    settled = len(site.accepted)
    site.household_a = 2.0
    site.run(40.0)

    writes = [
        c for _, c in site.accepted[settled:] if c.action == "SetChargingProfile" and c.connector_id
    ]
    assert [(c.station_id, c.limit_a) for c in writes if c.kind == "decrease"] == []
    for station_id in ("A", "B"):
        limits = [c.limit_a or 0.0 for c in writes if c.station_id == station_id]
        assert limits == sorted(limits), (station_id, limits)
        assert limits[-1] >= 10.5, (station_id, limits)  # the raise did arrive
    assert max(max(t.grid_a) for t in site.ticks) <= 25.0
