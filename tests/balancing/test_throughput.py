"""Under `max-energy` an EV yields for throughput (`balancing/throughput.py`): a 1-phase EV held
at its minimum on a phase where a 3-phase EV is held back gives that phase up while the 3-phase EV
turns it into more power, and only then; the other policies never yield. Case by case here, the
day-long story in `scenarios/max_energy_yield.yaml`."""

from __future__ import annotations

import dataclasses

import pytest

from balancing import Allocation, BalancerState, LimitSource, allocate, phase_rotation
from balancing.departures import share_with_departures
from balancing.model import GridReading, Session, Sharing, Site, Socket, Station
from balancing.waterfill import Problem, admit, index_of
from tests.balancing.test_properties import check_invariants

H = 3600.0


def _site(sharing: Sharing, *stations: Station) -> Site:
    return Site(
        grid_limit_a=25.0, margin_a=1.0, stations=stations, ramp_a_per_s=None, sharing=sharing
    )


def _station(name: str, rotation: str = "L1L2L3") -> Station:
    return Station(name, 32.0, (Socket(1, 32.0),), phase_rotation=phase_rotation(rotation))


ZOE, LEAF, LEAF2 = _station("ZOE"), _station("LEAF", "L3L1L2"), _station("LEAF2", "L3L1L2")


def _run(site: Site, sessions: list[Session], house: tuple[float, float, float]) -> Allocation:
    a = allocate(site, GridReading(0.0, house), sessions, BalancerState(), 0.0)
    check_invariants(site, sessions, a)
    return a


def _ev(name: str, phases: int, max_a: float | None = None, **told: float) -> Session:
    return Session((name, 1), 0.0, phases_hint=phases, ev_max_current_a=max_a, **told)


@pytest.mark.parametrize("sharing", list(Sharing), ids=[s.value for s in Sharing])
def test_the_1_phase_ev_yields_its_phase_to_the_3_phase_ev_only_under_max_energy(
    sharing: Sharing,
) -> None:
    # 22 A on each phase; the Zoe (3-phase) and the Leaf (1-phase, L3) share L3.
    a = _run(_site(sharing, ZOE, LEAF), [_ev("ZOE", 3), _ev("LEAF", 1)], (2.0, 2.0, 2.0))
    zoe, leaf = a.sockets
    if sharing is Sharing.MAX_ENERGY:  # 66 A·phases instead of 16 × 3 + 6 = 54
        assert (zoe.limit_a, leaf.limit_a) == (22.0, 0.0)
        assert leaf.binding.source is LimitSource.YIELDING
        assert leaf.binding.detail == "to a 3-phase EV on grid phase (L3)"
        # A yield is not a turn: nobody waits for one, no swap is due.
        assert not a.state.sockets[("LEAF", 1)].alternating_paused and a.swap_at is None
    else:
        assert leaf.limit_a >= 6.0 and leaf.binding.source is not LimitSource.YIELDING


def test_no_yield_when_the_3_phase_ev_could_not_take_the_share() -> None:
    # The Zoe is held by L2 (17 A) as well: without the Leaf it would gain 1 A on three phases
    # (3 A·phases) for the Leaf's 6: the Leaf keeps charging.
    site = _site(Sharing.MAX_ENERGY, ZOE, LEAF)
    a = _run(site, [_ev("ZOE", 3), _ev("LEAF", 1)], (2.0, 7.0, 2.0))
    assert [x.limit_a for x in a.sockets] == [16.0, 6.0]
    # Capped by its own maximum just above what it has: the same.
    a = _run(site, [_ev("ZOE", 3, max_a=17.0), _ev("LEAF", 1)], (2.0, 2.0, 2.0))
    assert [x.limit_a for x in a.sockets] == [16.0, 6.0]


def test_only_as_many_yield_as_the_3_phase_ev_can_use() -> None:
    # Two Leafs at 6 A and the Zoe at 10 A on L3; the Zoe takes 14 A at most: one Leaf's share
    # is enough for it, the other Leaf keeps charging (on the rest of L3).
    site = _site(Sharing.MAX_ENERGY, ZOE, LEAF, LEAF2)
    a = _run(site, [_ev("ZOE", 3, max_a=14.0), _ev("LEAF", 1), _ev("LEAF2", 1)], (2.0, 2.0, 2.0))
    zoe, *leafs = a.sockets
    assert zoe.limit_a == 14.0
    assert sorted(x.limit_a for x in leafs) == [0.0, 8.0]  # the rest of L3
    assert sorted(x.binding.source.value for x in leafs)[1] == "yielding"


def test_an_ev_with_a_departure_to_make_does_not_yield() -> None:
    # The Leaf told its departure and need (10 kWh in 5 h: 8.7 A, 9.6 A with the margin): it is
    # served by its departure, not paused for throughput; the Zoe gets the rest of L3.
    site = _site(Sharing.MAX_ENERGY, ZOE, LEAF)
    leaf = _ev("LEAF", 1, departure_at=5 * H, energy_to_go_kwh=10.0)
    a = _run(site, [_ev("ZOE", 3), leaf], (2.0, 2.0, 2.0))
    assert [x.limit_a for x in a.sockets] == [12.4, 9.6]
    # Its need met, it yields like anyone.
    done = _ev("LEAF", 1, departure_at=5 * H, energy_to_go_kwh=0.0)
    a = _run(site, [_ev("ZOE", 3), done], (2.0, 2.0, 2.0))
    assert [x.limit_a for x in a.sockets] == [22.0, 0.0]


def test_max_energy_serves_by_departure_even_one_that_cannot_make_it() -> None:
    # One shared limit of 20 A: A leaves in 1 h needing 60 kWh (cannot make it), B in 3 h needing
    # 20 kWh (9.7 A, 10.7 A with the margin). equal-current serves B's need first (A would miss
    # anyway); max-energy serves A first: B can take the limit after A left.
    def problem() -> Problem[str]:
        p = Problem([60, 60], [320, 320], ["cap", "cap"], [0, 1])
        p.add(200, "L1", [0, 1])
        return p

    for sharing, expected in ((Sharing.EQUAL_CURRENT, [93, 107]), (Sharing.MAX_ENERGY, [140, 60])):
        p = problem()
        ix = index_of(p)
        adm = admit(p, ix, [0, 1], [True, True])
        need, departure = [10**9, 107], [1 * H, 3 * H]
        x, _, _ = share_with_departures(p, ix, adm, sharing, [3, 3], need, departure)
        assert [int(v + 1e-6) for v in x] == expected, sharing


@pytest.mark.parametrize("sharing", list(Sharing), ids=[s.value for s in Sharing])
def test_a_deferred_ev_gives_its_minimum_to_one_short_of_its_departure_under_max_energy(
    sharing: Sharing,
) -> None:
    # A station of 16 A for two sockets: the Model 3 needs 20 kWh in 2 h (14.5 A, 16 A with the
    # margin); the Zoe needs 10 kWh in 10 h and can wait. Its minimum would hold the Model 3 at
    # 10 A; under max-energy it yields (the Model 3 has as many phases: nothing is lost).
    duo = Station("DUO", 16.0, (Socket(1, 32.0), Socket(2, 32.0)))
    site = Site(grid_limit_a=40.0, stations=(duo,), ramp_a_per_s=None, sharing=sharing)
    model3 = Session(
        ("DUO", 1), 0.0, 16.0, phases_hint=3, departure_at=2 * H, energy_to_go_kwh=20.0
    )  # at its 16 A it needs 1.8 h: it cannot wait
    zoe = Session(("DUO", 2), 0.0, phases_hint=3, departure_at=10 * H, energy_to_go_kwh=10.0)
    a = _run(site, [model3, zoe], (0.0, 0.0, 0.0))
    if sharing is Sharing.MAX_ENERGY:
        assert [x.limit_a for x in a.sockets] == [16.0, 0.0]
        assert a.sockets[1].binding.detail.startswith("to an EV short of its departure on ")
    else:
        assert [x.limit_a for x in a.sockets] == [10.0, 6.0]
    # Without time to spare (10 kWh in 0.9 h: at 32 A it would still make it after waiting 27
    # minutes, less than two alternating periods) it cannot wait and keeps its share.
    hurried = dataclasses.replace(zoe, departure_at=0.9 * H)
    a = _run(site, [model3, hurried], (0.0, 0.0, 0.0))
    assert all(x.limit_a >= 6.0 for x in a.sockets)
