"""Behaviour of `allocate`: safe mode, order and alternating, minimums, ramp, demand, errors."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

import pytest

from balancing import (
    Allocation,
    BalancerState,
    Circuit,
    GridReading,
    LimitSource,
    Session,
    Site,
    Socket,
    Station,
    allocate,
)
from balancing.serde import allocation_to_dict


def singles(n: int, max_a: float = 32.0) -> tuple[Station, ...]:
    return tuple(Station(f"S{i}", max_a, (Socket(1, max_a, socket_id=i),)) for i in range(n))


def site_with(n: int, **kw: object) -> Site:
    values: dict[str, object] = {"grid_limit_a": 25.0, "stations": singles(n), "ramp_a_per_s": None}
    values.update(kw)
    return Site(**values)  # type: ignore[arg-type]


def run(
    site: Site,
    sessions: list[Session],
    now: float = 0.0,
    meter: tuple[float, float, float] | None = (0.0, 0.0, 0.0),
    state: BalancerState | None = None,
) -> Allocation:
    reading = None if meter is None else GridReading(now, meter)
    return allocate(site, reading, sessions, state or BalancerState(), now)


def limits(a: Allocation) -> list[float]:
    return [x.limit_a for x in a.sockets]


def sources(a: Allocation) -> list[LimitSource]:
    return [x.binding.source for x in a.sockets]


# --- errors -----------------------------------------------------------------------------------


def test_a_session_on_an_unknown_socket_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown socket S9/1"):
        run(site_with(2), [Session(("S9", 1), 0.0)])


def test_two_sessions_on_one_socket_are_an_error() -> None:
    with pytest.raises(ValueError, match="two sessions on socket S0/1"):
        run(site_with(2), [Session(("S0", 1), 0.0), Session(("S0", 1), 5.0)])


def test_now_must_be_finite() -> None:
    with pytest.raises(ValueError, match="now"):
        allocate(site_with(1), None, [], BalancerState(), math.nan)


def test_no_sessions_gives_an_empty_allocation() -> None:
    a = run(site_with(2), [])
    assert a.sockets == () and a.available_a == (25.0, 25.0, 25.0)


# --- available current and safe mode ---------------------------------------------------------


@pytest.mark.parametrize(
    ("reading", "reason"),
    [
        (None, "no meter reading"),
        (GridReading(80.0, (1.0, 1.0, 1.0)), "meter reading 20 s old"),
        (GridReading(100.0, (math.nan, 1.0, 1.0)), "meter reading is not a number"),
        (GridReading(130.0, (1.0, 1.0, 1.0)), "meter reading is from the future"),
    ],
)
def test_no_usable_reading_means_safe_mode(reading: GridReading | None, reason: str) -> None:
    site = site_with(3, safe_current_a=12.0, meter_timeout_s=10.0)
    sessions = [Session((f"S{i}", 1), 0.0) for i in range(3)]
    a = allocate(site, reading, sessions, BalancerState(), 100.0)
    assert a.safe_mode and a.safe_reason == reason and a.other_load_a is None
    assert sum(limits(a)) <= 12.0
    assert a.available_a == (12.0, 12.0, 12.0)


def test_safe_mode_serves_the_lowest_socket_id_first_and_does_not_rotate() -> None:
    # Guide 6.3.3.4: with SCN-TotalSafeCurrent active the occupied socket with the lowest id leads.
    site = Site(
        grid_limit_a=25,
        stations=(
            Station("A", 32, (Socket(1, 32, socket_id=2),)),
            Station("B", 32, (Socket(1, 32, socket_id=0),)),
            Station("C", 32, (Socket(1, 32, socket_id=1),)),
        ),
        safe_current_a=10.0,
        ramp_a_per_s=None,
        alternating_period_s=60,
    )
    sessions = [Session((s, 1), 0.0) for s in "ABC"]
    state = BalancerState()
    for now in (0.0, 100.0, 1000.0):
        a = allocate(site, None, sessions, state, now)
        assert limits(a) == [0.0, 10.0, 0.0]
        assert sources(a) == [LimitSource.SAFE_MODE] * 3
        state = a.state


def test_export_raises_the_headroom_and_our_own_evs_are_not_other_load() -> None:
    site = site_with(1, margin_a=1.0)
    measured = Session(("S0", 1), 0.0, measured_a=(10.0, 10.0, 10.0))
    a = run(site, [measured], meter=(4.0, -6.0, 10.0))
    assert a.other_load_a == (-6.0, -16.0, 0.0)
    assert a.available_a == (30.0, 40.0, 24.0)
    not_included = run(
        site_with(1, margin_a=1.0, meter_includes_ev=False), [measured], meter=(4, -6, 10)
    )
    assert not_included.other_load_a == (4.0, -6.0, 10.0)


def test_a_session_without_measurements_counts_as_other_load() -> None:
    # Conservative: what the meter sees and we cannot attribute to our EVs stays "other load".
    a = run(site_with(1), [Session(("S0", 1), 0.0)], meter=(10.0, 10.0, 10.0))
    assert a.available_a == (15.0, 15.0, 15.0) and limits(a) == [15.0]


# --- shares, minimums, alternating ------------------------------------------------------------


def test_an_ev_needing_14_a_gets_it_when_20_a_is_available() -> None:
    # Guide 4.1.2: ≥ 20 A → 14 A for the EV that needs it and ≥ 6 A for the other.
    site = Site(grid_limit_a=20, stations=(Station("D", 20, (Socket(1, 32), Socket(2, 32))),))
    sessions = [Session(("D", 1), 0.0, min_current_a=14.0), Session(("D", 2), 0.0)]
    a = run(site.__class__(**{**_fields(site), "ramp_a_per_s": None}), sessions)
    assert limits(a) == [14.0, 6.0]


def test_below_20_a_the_14_a_ev_and_the_other_alternate() -> None:
    site = Site(
        grid_limit_a=19,
        stations=(Station("D", 19, (Socket(1, 32, socket_id=0), Socket(2, 32, socket_id=1))),),
        ramp_a_per_s=None,
        alternating_period_s=900,
    )
    sessions = [Session(("D", 1), 0.0, min_current_a=14.0), Session(("D", 2), 0.0)]
    a = run(site, sessions)
    assert limits(a) == [0.0, 19.0]  # socket id 1 is served first
    assert a.sockets[0].binding.source is LimitSource.ALTERNATING
    a = run(site, sessions, now=900.0, state=a.state)
    assert limits(a) == [19.0, 0.0]  # alone it may use all 19 A
    a = run(site, sessions, now=1800.0, state=a.state)
    assert limits(a) == [0.0, 19.0]


def test_a_new_ev_waits_at_most_one_alternating_period() -> None:
    site = site_with(3, grid_limit_a=12.0, alternating_period_s=600)
    first = [Session(("S0", 1), 0.0), Session(("S1", 1), 0.0)]
    a = run(site, first)
    assert limits(a) == [6.0, 6.0]
    newcomer = [*first, Session(("S2", 1), 100.0)]
    a = run(site, newcomer, now=100.0, state=a.state)
    assert a.get(("S2", 1)).binding.source is LimitSource.ALTERNATING
    assert a.swap_at == 700.0
    a = run(site, newcomer, now=699.0, state=a.state)
    assert a.get(("S2", 1)).limit_a == 0.0
    a = run(site, newcomer, now=700.0, state=a.state)
    assert a.get(("S2", 1)).limit_a == 6.0
    assert sum(limits(a)) == 12.0


def test_not_enough_for_anyone_is_a_minimum_current_pause() -> None:
    a = run(site_with(1, grid_limit_a=5.0), [Session(("S0", 1), 0.0)])
    assert limits(a) == [0.0]
    assert a.sockets[0].binding.source is LimitSource.MIN_CURRENT
    assert a.sockets[0].binding.detail == "grid phase (L1)"


def test_an_ev_max_below_the_minimum_pauses_it() -> None:
    a = run(site_with(1), [Session(("S0", 1), 0.0, ev_max_current_a=4.0)])
    assert limits(a) == [0.0] and a.sockets[0].binding.source is LimitSource.MIN_CURRENT


def test_circuits_limit_everything_below_them() -> None:
    site = Site(
        grid_limit_a=100,
        circuits=(Circuit("main", 40.0), Circuit("garage", 20.0, parent="main")),
        stations=(
            Station("G1", 32, (Socket(1, 32),), circuit_id="garage"),
            Station("G2", 32, (Socket(1, 32),), circuit_id="garage"),
            Station("M1", 32, (Socket(1, 32),), circuit_id="main"),
        ),
        ramp_a_per_s=None,
    )
    a = run(site, [Session((s, 1), 0.0) for s in ("G1", "G2", "M1")])
    assert limits(a) == [10.0, 10.0, 20.0]
    assert [x.binding.detail for x in a.sockets] == ["garage", "garage", "main"]


def test_station_max_lower_than_the_connector_is_named() -> None:
    site = Site(grid_limit_a=63, stations=(Station("S", 10, (Socket(1, 16),)),), ramp_a_per_s=None)
    a = run(site, [Session(("S", 1), 0.0)])
    assert limits(a) == [10.0]
    assert a.sockets[0].binding.source is LimitSource.STATION_MAX


def test_dual_feeder_station_max_applies_per_socket() -> None:
    site = Site(
        grid_limit_a=63,
        stations=(Station("D", 16, (Socket(1, 32), Socket(2, 32)), dual_feeder=True),),
        ramp_a_per_s=None,
    )
    a = run(site, [Session(("D", 1), 0.0), Session(("D", 2), 0.0)])
    assert limits(a) == [16.0, 16.0]


# --- phases, demand, ramp ---------------------------------------------------------------------


def test_a_wider_phase_set_is_taken_at_once() -> None:
    site = site_with(1, phase_detect_s=0)
    a = run(site, [Session(("S0", 1), 0.0, measured_a=(8.0, 0.0, 0.0))], meter=(8, 0, 0))
    assert [p.name for p in a.sockets[0].phases] == ["L1"]
    a = run(site, [Session(("S0", 1), 0.0, measured_a=(8.0, 8.0, 8.0))], 1.0, (8, 8, 8), a.state)
    assert [p.name for p in a.sockets[0].phases] == ["L1", "L2", "L3"]


def test_a_suspended_ev_gets_its_offer_lowered_to_the_minimum() -> None:
    # Without the release (test_balancing_release.py), the demand rule keeps its minimum offered.
    site = site_with(2, grid_limit_a=32.0, underuse_after_s=180, release_after_s=None)
    sessions = [Session(("S0", 1), 0.0, charging=False), Session(("S1", 1), 0.0)]
    a = run(site, sessions)
    assert limits(a) == [16.0, 16.0]
    a = run(site, sessions, now=1.0, state=a.state)  # offered 16 A, draws nothing: clock starts
    a = run(site, sessions, now=180.0, state=a.state)
    assert limits(a) == [16.0, 16.0]
    a = run(site, sessions, now=181.0, state=a.state)
    assert limits(a) == [6.0, 26.0]
    assert sources(a)[0] is LimitSource.EV_DEMAND


def test_a_new_session_on_the_same_socket_starts_afresh() -> None:
    site = site_with(2, grid_limit_a=32.0, underuse_after_s=0)
    a = run(site, [Session(("S0", 1), 0.0, charging=False), Session(("S1", 1), 0.0)])
    a = run(
        site, [Session(("S0", 1), 0.0, charging=False), Session(("S1", 1), 0.0)], 1, state=a.state
    )
    assert limits(a) == [6.0, 26.0]
    a = run(site, [Session(("S0", 1), 2.0), Session(("S1", 1), 0.0)], 2, state=a.state)
    assert limits(a) == [16.0, 16.0]
    assert a.state.sockets[("S0", 1)].started_at == 2.0


def test_increases_ramp_and_decreases_apply_at_once() -> None:
    site = site_with(1, ramp_a_per_s=0.5)
    s = [Session(("S0", 1), 0.0)]
    a = run(site, s)
    assert limits(a) == [6.0] and a.sockets[0].target_a == 25.0
    a = run(site, s, now=4.0, state=a.state)
    assert limits(a) == [8.0] and sources(a) == [LimitSource.RAMP]
    a = run(site, s, now=100.0, state=a.state)
    assert limits(a) == [25.0]
    a = run(site, s, now=101.0, meter=(15.0, 0.0, 0.0), state=a.state)
    assert limits(a) == [10.0]
    a = run(site, s, now=101.0, meter=(15.0, 0.0, 0.0), state=a.state)
    assert limits(a) == [10.0]  # no time passed: no increase either


# --- results ----------------------------------------------------------------------------------


def test_the_same_input_gives_the_same_output() -> None:
    site = site_with(4, grid_limit_a=20.0)
    sessions = [Session((f"S{i}", 1), float(i), measured_a=(5.0, 5.0, 5.0)) for i in range(4)]
    first = run(site, sessions, now=10.0, meter=(20.0, 21.0, 19.0))
    again = run(site, sessions, now=10.0, meter=(20.0, 21.0, 19.0))
    assert first == again
    assert run(site, sessions, 11.0, (20.0, 21.0, 19.0), first.state) == run(
        site, sessions, 11.0, (20.0, 21.0, 19.0), again.state
    )


def test_any_reading_with_at_and_current_a_will_do() -> None:
    @dataclass(frozen=True)
    class MeterReading:
        at: float
        current_a: tuple[float, float, float]
        source: str = "modbus"

    site = site_with(1)
    reading = MeterReading(0.0, (5.0, 5.0, 5.0))
    a = allocate(site, reading, [Session(("S0", 1), 0.0)], BalancerState(), 0.0)
    assert a.available_a == (20.0, 20.0, 20.0)
    assert GridReading.of(reading) == GridReading(0.0, (5.0, 5.0, 5.0))


def test_the_allocation_serialises_to_json() -> None:
    a = run(site_with(2, grid_limit_a=6.0), [Session(("S0", 1), 0.0), Session(("S1", 1), 0.0)])
    data = json.loads(json.dumps(allocation_to_dict(a)))
    assert data["sockets"][1] == {
        "station_id": "S1",
        "connector_id": 1,
        "limit_a": 6.0,
        "target_a": 6.0,
        "min_current_a": 6.0,
        "phases": ["L1", "L2", "L3"],
        "binding": {"source": "grid phase", "detail": "L1"},
    }
    assert data["sockets"][0]["binding"] == {
        "source": "alternating pause",
        "detail": "grid phase (L1)",
    }
    with pytest.raises(KeyError):
        a.get(("S7", 1))


def _fields(site: Site) -> dict[str, object]:
    return {f: getattr(site, f) for f in site.__dataclass_fields__}


def test_an_equal_site_built_afresh_reuses_the_compiled_form() -> None:
    from balancing.topology import compiled

    first = site_with(3)
    again = site_with(3)
    assert first is not again
    assert compiled(again) is compiled(first)
    assert compiled(site_with(4)) is not compiled(first)


# --- what a run reuses from the last one ------------------------------------------------------


def _busy_site() -> tuple[Site, list[Session]]:
    """Six sessions under a 30 A circuit (five fit at 6 A), the grid far from its limit."""
    stations = tuple(
        Station(f"S{i}", 32.0, (Socket(1, 32.0, socket_id=i),), circuit_id="C") for i in range(6)
    )
    site = Site(
        grid_limit_a=100.0, stations=stations, circuits=(Circuit("C", 30.0),), ramp_a_per_s=None
    )
    return site, [Session((f"S{i}", 1), 0.0, measured_a=(6.0, 6.0, 6.0)) for i in range(6)]


def test_unchanged_results_are_reused_and_equal_to_fresh_ones() -> None:
    site, sessions = _busy_site()
    first = run(site, sessions, now=0.0, meter=(40.0, 40.0, 40.0))
    meter = (43.0, 40.0, 39.0)  # the headroom moves, but the circuit binds
    again = run(site, sessions, now=1.0, meter=meter, state=first.state)
    fresh = run(
        site, sessions, now=1.0, meter=meter, state=dataclasses.replace(first.state, last=None)
    )
    assert again == fresh and again.state == fresh.state
    assert limits(again) == [0.0, 6.0, 6.0, 6.0, 6.0, 6.0]
    assert all(a is b for a, b in zip(again.sockets, first.sockets, strict=True))
    assert not any(a is b for a, b in zip(fresh.sockets, first.sockets, strict=True))
    # The remembered results are not part of the state's value.
    assert "last=" not in repr(again.state)


def test_the_constraint_tree_is_built_once_while_the_sessions_stay() -> None:
    from balancing.topology import compiled

    site, sessions = _busy_site()
    state = BalancerState()
    for now in (0.0, 1.0, 2.0):
        state = run(site, sessions, now=now, meter=(20.0 + now, 20.0, 20.0), state=state).state
    trees = compiled(site).trees
    assert len(trees) == 1
    run(site, sessions[:4], now=3.0, state=state)  # other sessions: another tree
    assert len(trees) == 2 and trees[1] is not trees[0]


# --- phases not known yet: the probe (issue 11, item 8) ------------------------------------


def _probe_site() -> Site:
    return Site(grid_limit_a=25, stations=(Station("P", 16, (Socket(1, 16),)),), ramp_a_per_s=None)


def test_an_ev_of_unknown_phases_is_probed_on_l1_when_another_phase_has_no_room() -> None:
    a = run(_probe_site(), [Session(("P", 1), 0.0)], meter=(0.0, 20.0, 0.0))
    assert limits(a) == [6.0]
    assert [p.name for p in a.sockets[0].phases] == ["L1"]
    assert a.sockets[0].binding.source is LimitSource.PHASE_PROBE


def test_a_probed_ev_that_draws_on_three_phases_is_paused_at_once() -> None:
    site = _probe_site()
    a = run(site, [Session(("P", 1), 0.0)], meter=(0.0, 20.0, 0.0))
    drawing = [Session(("P", 1), 0.0, measured_a=(6.0, 6.0, 6.0))]
    a = run(site, drawing, now=5.0, meter=(6.0, 26.0, 6.0), state=a.state)
    assert limits(a) == [0.0]
    assert a.sockets[0].binding.source is LimitSource.MIN_CURRENT
    assert a.sockets[0].binding.detail == "grid phase (L2)"
    # Known to be 3-phase now: not probed again while L2 has no room.
    idle = [Session(("P", 1), 0.0, measured_a=(0.0, 0.0, 0.0))]
    a = run(site, idle, now=10.0, meter=(0.0, 20.0, 0.0), state=a.state)
    assert limits(a) == [0.0] and len(a.sockets[0].phases) == 3


@pytest.mark.parametrize(
    ("meter", "hint", "want"),
    [
        ((0.0, 0.0, 0.0), None, 16.0),  # room everywhere: taken as 3-phase, no probe
        ((20.0, 0.0, 0.0), None, 0.0),  # no room on L1, the phase every EV uses: no probe
        ((0.0, 20.0, 0.0), 3, 0.0),  # known 3-phase (hint): no probe
        ((0.0, 20.0, 0.0), 1, 16.0),  # known 1-phase (hint): full current on L1
    ],
)
def test_when_an_ev_is_probed(
    meter: tuple[float, float, float], hint: int | None, want: float
) -> None:
    a = run(_probe_site(), [Session(("P", 1), 0.0, phases_hint=hint)], meter=meter)
    assert limits(a) == [want]
    assert a.sockets[0].binding.source is not LimitSource.PHASE_PROBE


def test_no_probe_in_safe_mode() -> None:
    a = run(_probe_site(), [Session(("P", 1), 0.0)], meter=None)
    assert a.safe_mode and a.sockets[0].binding.source is not LimitSource.PHASE_PROBE
