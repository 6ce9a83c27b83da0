"""Departure-aware sharing (issue 11, item 9): a session that would miss its departure is served
first above the minimums, never above a limit and never by taking another EV below its minimum."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from balancing import BalancerState, GridReading, Session, Sharing, Site, Socket, Station, allocate
from balancing.departures import deferral_order, forecast, needed_current_a, slack_s
from tests.balancing.test_properties import check_invariants, sites, steps

H = 3600.0


def _site(grid: float, *stations: Station, sharing: Sharing = Sharing.EQUAL_CURRENT) -> Site:
    return Site(grid_limit_a=grid, stations=stations, ramp_a_per_s=None, sharing=sharing)


def _one(name: str, max_a: float = 32.0) -> Station:
    return Station(name, max_a, (Socket(1, max_a),))


def _ev(
    name: str, phases: int = 3, hours: float | None = None, kwh: float | None = None
) -> Session:
    return Session(
        (name, 1),
        0.0,
        phases_hint=phases,
        departure_at=None if hours is None else hours * H,
        energy_to_go_kwh=kwh,
    )


def _limits(site: Site, sessions: list[Session], meter: float = 0.0) -> list[float]:
    a = allocate(site, GridReading(0.0, (meter,) * 3), sessions, BalancerState(), 0.0)
    check_invariants(site, sessions, a)
    return [x.limit_a for x in a.sockets]


# (grid A, sessions as (phases, hours to departure, kWh to go) or None, expected limits)
CASES = {
    "nobody has a departure: fair shares": (32.0, [None, None], [16.0, 16.0]),
    # 20 kWh in 2 h on 3 phases: 14.5 A, 15.9 A with the margin: the fair 16 A makes it.
    "a need the fair share covers changes nothing": (32.0, [(3, 2.0, 20.0), None], [16.0, 16.0]),
    # 30 kWh in 2 h: 21.7 A, 24 A with the margin (rounded up); the other keeps the rest.
    "a need above the fair share is served first": (32.0, [(3, 2.0, 30.0), None], [24.0, 8.0]),
    # 60 kWh in 1 h cannot be met: it takes all but the other's minimum.
    "never below another's minimum": (32.0, [(3, 1.0, 60.0), None], [26.0, 6.0]),
    # Both would miss: max-min fair between them up to their needs, the third keeps 6 A.
    "two that would miss share fairly": (
        38.0,
        [(3, 1.0, 60.0), (3, 1.0, 60.0), None],
        [16.0, 16.0, 6.0],
    ),
    # One needs 12.8 A (with the margin), the other more than it can get: the first is met.
    "smaller needs are met first": (
        38.0,
        [(3, 2.0, 16.0), (3, 1.0, 60.0), None],
        [12.8, 19.2, 6.0],
    ),
    # Both at risk and both could make it alone: the earlier departure first (EDF). A needs
    # 24 A (with the margin) for 15 kWh in 1 h; B as much for 30 kWh in 2 h and gets the rest
    # now, all of it after A left.
    "earliest departure first": (
        38.0,
        [(3, 1.0, 15.0), (3, 2.0, 30.0), None],
        [24.0, 8.0, 6.0],
    ),
    # Departure passed with energy to go: all it can get.
    "departure passed": (32.0, [(3, 0.0, 5.0), None], [26.0, 6.0]),
    # No energy to go: no need.
    "nothing to go": (32.0, [(3, 1.0, 0.0), None], [16.0, 16.0]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_departure_cases(name: str) -> None:
    grid, plans, expected = CASES[name]
    stations = [_one(f"S{n}") for n in range(len(plans))]
    sessions = [
        _ev(f"S{n}") if p is None else _ev(f"S{n}", p[0], p[1], p[2]) for n, p in enumerate(plans)
    ]
    assert _limits(_site(grid, *stations), sessions) == expected


@pytest.mark.parametrize("sharing", list(Sharing))
def test_every_policy_serves_the_one_that_would_miss(sharing: Sharing) -> None:
    # A 1-phase EV and a 3-phase EV on 22 A of L1 (the policy example): the 1-phase EV needs
    # 7 kWh in 2 h (15.2 A, 16.8 A with the margin), more than equal-current (11 A) or
    # max-energy (6 A) give it.
    site = _site(40.0, _one("A"), _one("B"), sharing=sharing)
    sessions = [_ev("A", 1, 2.0, 7.0), _ev("B", 3)]
    a = allocate(site, GridReading(0.0, (18.0, 0.0, 0.0)), sessions, BalancerState(), 0.0)
    check_invariants(site, sessions, a)
    one, three = (x.limit_a for x in a.sockets)
    assert one == 16.0  # all that leaves the 3-phase EV its minimum
    assert three == 6.0


def test_a_limit_binds_the_one_that_would_miss() -> None:
    # Its own station allows 10 A: the need cannot lift it above.
    site = _site(40.0, _one("A", 10.0), _one("B"))
    assert _limits(site, [_ev("A", 3, 1.0, 60.0), _ev("B")]) == [10.0, 30.0]


def test_alternating_turns_are_kept() -> None:
    # Room for two minimums, three EVs: the first run serves the highest socket first (guide
    # 2.4), so A waits its turn whatever its departure says; it does not pause the others.
    site = _site(13.0, _one("A"), _one("B"), _one("C"))
    sessions = [_ev("A", 3, 1.0, 60.0), _ev("B"), _ev("C")]
    a = allocate(site, GridReading(0.0, (0.0,) * 3), sessions, BalancerState(), 0.0)
    assert [x.limit_a for x in a.sockets] == [0.0, 6.5, 6.5]
    assert a.sockets[0].binding.source.value == "alternating pause"


def test_needed_current_and_forecast() -> None:
    assert needed_current_a(11.04, H, 3) == pytest.approx(16.0)
    assert needed_current_a(0.0, 0.0, 3) == 0.0
    assert needed_current_a(1.0, 0.0, 1) == math.inf
    f = forecast(2 * H, 22.08, 16.0, 3, 0.0)  # 16 A on 3 phases for 2 h: 22.08 kWh
    assert f.on_track and f.expected_kwh == pytest.approx(22.08)
    f = forecast(2 * H, 23.0, 16.0, 3, 0.0)
    assert not f.on_track and f.needed_a == pytest.approx(16.67, abs=0.01)
    assert not forecast(0.0, 1.0, 32.0, 3, 10.0).on_track


def test_bad_departure_values_are_refused() -> None:
    with pytest.raises(ValueError, match="energy_to_go_kwh"):
        Session(("A", 1), 0.0, energy_to_go_kwh=-1.0)
    with pytest.raises(ValueError, match="departure_at"):
        Session(("A", 1), 0.0, departure_at=math.nan)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_invariants_hold_with_departures(data: st.DataObject) -> None:
    """Every limit, minimum and the safe total hold whatever the departures say."""
    site = data.draw(sites())
    state = BalancerState()
    plan = st.none() | st.tuples(
        st.floats(-600, 86400, allow_nan=False), st.floats(0, 120, allow_nan=False)
    )
    for now, reading, sessions in data.draw(steps(site)):
        planned = []
        for s in sessions:
            p = data.draw(plan)
            if p is not None:
                s = dataclasses.replace(s, departure_at=max(0.0, now + p[0]), energy_to_go_kwh=p[1])
            planned.append(s)
        a = allocate(site, reading, planned, state, now)
        check_invariants(site, planned, a)
        assert allocate(site, reading, planned, state, now) == a
        state = a.state


# -- deferral: a session that makes its departure anyway yields its turn -------------------------

P = 900.0  # the default alternating period


@pytest.mark.parametrize(
    ("kwh", "departure", "cap_a", "phases", "now", "expected"),
    [
        (None, 3 * H, 16.0, 3, 0.0, None),  # nothing told: no slack, never deferred
        (20.0, None, 16.0, 3, 0.0, None),
        (0.0, 3 * H, 16.0, 3, 0.0, None),  # nothing to go
        (11.04, 3 * H, 16.0, 3, 0.0, 2 * H),  # 1 h at 16 A on 3 phases: 2 h to spare
        (11.04, 3 * H, 16.0, 3, H, H),  # an hour later, an hour less
        (3.68, 3 * H, 16.0, 1, 0.0, 2 * H),  # 1-phase: a third of the energy per hour
        (22.08, H, 16.0, 3, 0.0, -H),  # cannot make it: negative
        (1.0, H, 0.0, 3, 0.0, -math.inf),
    ],
)
def test_slack(kwh, departure, cap_a, phases, now, expected) -> None:
    got = slack_s(kwh, departure, cap_a, phases, now)
    assert got == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("order", "slack", "expected"),
    [
        ([0, 1, 2], [None, None, None], [0, 1, 2]),  # nobody told: the queue as it is
        ([0, 1, 2], [3 * P, None, None], [1, 2, 0]),  # time to spare: last
        ([0, 1, 2], [2 * P - 1, None, None], [0, 1, 2]),  # less than two periods: keeps its place
        ([0, 1, 2], [-H, None, 2 * P], [0, 1, 2]),  # cannot make it: keeps its place
        ([2, 0, 1], [9 * P, 3 * P, None], [2, 1, 0]),  # the least slack first
        ([2, 0, 1], [3.5 * P, 3.2 * P, 3 * P], [2, 0, 1]),  # same whole periods: queue order
    ],
)
def test_deferral_order(order, slack, expected) -> None:
    assert deferral_order(order, slack, P) == expected


def test_a_session_with_time_to_spare_yields_its_turn_until_it_needs_it() -> None:
    # Room for two minimums, three EVs. A would get the first turn (the highest socket first),
    # but it told 20 kWh by 2.5 h: at its 16 A on 3 phases 1.81 h, so 0.69 h (2484 s) to spare.
    # It yields until fewer than two periods are left to spare (at 684 s), then waits its turn
    # like everyone (at most one period); it makes its departure, B and C meanwhile charge.
    stations = [Station(n, 16.0, (Socket(1, 16.0),)) for n in "ABC"]
    site = Site(grid_limit_a=13.0, stations=tuple(stations), ramp_a_per_s=None)
    a_plan = {"departure_at": 2.5 * H, "energy_to_go_kwh": 20.0}
    state, started = BalancerState(), None
    for now in range(0, 2400, 10):
        sessions = [
            Session(("A", 1), 0.0, phases_hint=3, **a_plan),  # type: ignore[arg-type]
            Session(("B", 1), 0.0, phases_hint=3),
            Session(("C", 1), 0.0, phases_hint=3),
        ]
        got = allocate(site, GridReading(now, (0.0,) * 3), sessions, state, float(now))
        check_invariants(site, sessions, got)
        state = got.state
        limits = [x.limit_a for x in got.sockets]
        if now == 0:
            assert limits == [0.0, 6.5, 6.5]
        if limits[0] > 0 and started is None:
            started = now
    assert started is not None and 684 <= started <= 684 + P
