"""The offline bound `csms simulate` compares a policy with: per moment and over a window (LP)."""

from __future__ import annotations

import pytest

from csms.simulate.bound import EvSpan, moment_max_a, offline_bound
from csms.simulate.engine import simulate
from csms.simulate.scenario import load_scenario
from tests.simulate.scenarios import EXAMPLE, HEAD, KW_16A_3PH, scenario_of


def ev_span(name, phases, max_a=16.0, station=None):
    return EvSpan(name, station or name, phases, max_a, 100.0, 0.0, 3600.0)


@pytest.mark.parametrize(
    ("room", "evs", "best"),
    [
        ((24, 24, 24), [ev_span("a", (0, 1, 2))], 48),  # its own maximum, 3 phases
        ((10, 24, 24), [ev_span("a", (0, 1, 2))], 30),  # the tightest phase binds all three
        ((24, 24, 24), [ev_span("a", (0,), 32), ev_span("b", (0,), 32)], 24),  # one phase shared
        ((24, 5, 24), [ev_span("a", (0, 1, 2)), ev_span("b", (0,), 32)], 15 + 19),
        ((0, 0, 0), [ev_span("a", (0, 1, 2))], 0),
        ((40, 40, 40), [ev_span("a", (0,), 32, "S"), ev_span("b", (0,), 32, "S")], 32),  # station
    ],
)
def test_per_moment_maximum(room, evs, best):
    assert moment_max_a(room, evs) == pytest.approx(best)


@pytest.mark.parametrize(
    ("room", "evs", "best"),
    [
        # 10 A on L1 for two 1-phase EVs: relaxed both share, but 5 A each is not charging.
        ((10, 24, 24), [ev_span("a", (0,), 32), ev_span("b", (0,), 32)], 10),
        ((10, 24, 24), [ev_span("a", (0, 1, 2)), ev_span("b", (0, 1, 2))], 30),
        ((5, 24, 24), [ev_span("a", (0,), 32), ev_span("b", (1,), 32)], 24),  # a must pause
        ((5, 24, 24), [ev_span("a", (0, 1, 2))], 0),
    ],
)
def test_per_moment_maximum_respects_the_minimum_current(room, evs, best):
    assert moment_max_a(room, evs, min_a=6.0) == pytest.approx(best)


@pytest.mark.parametrize(
    ("keep", "best"),
    [
        (frozenset(), 66),  # the maximum pauses the 1-phase EV: 22 A on three phases
        (frozenset({"b"}), 16 * 3 + 6),  # kept at its minimum, it costs the 3-phase EV 6 A
        (frozenset({"a", "b"}), 16 * 3 + 6),
    ],
)
def test_per_moment_maximum_with_floors_kept(keep, best):
    evs = [ev_span("a", (0, 1, 2), 32), ev_span("b", (2,), 32)]
    cache: dict = {}
    assert moment_max_a((22, 22, 22), evs, 6.0, cache) == pytest.approx(66)
    assert moment_max_a((22, 22, 22), evs, 6.0, cache, keep=keep) == pytest.approx(best)


def test_offline_bound_is_the_lp_optimum(tmp_path):
    # One 3-phase EV alone, no household: it can take 16 A (usable 24 A) for 2 h, but needs 15 kWh.
    scenario = scenario_of(tmp_path, HEAD + "a,10:00,12:00,15,3,16,A,1\n")
    assert offline_bound(scenario, 10 * 3600, 2 * 3600).total_kwh == pytest.approx(15.0)
    scenario = scenario_of(tmp_path, HEAD + "a,10:00,12:00,50,3,16,A,1\n")
    assert offline_bound(scenario, 10 * 3600, 2 * 3600).total_kwh == pytest.approx(2 * KW_16A_3PH)
    # Two 1-phase EVs: A's on L1 (free: 24 A usable), B's station is wired to L2 only, where the
    # household takes 20 A: B gets at most 4 A.
    load = "time,household_l1,household_l2,household_l3\n00:00,0,20,0\n"
    scenario = scenario_of(
        tmp_path, HEAD + "a,10:00,11:00,50,1,32,A,1\nb,10:00,11:00,50,1,32,B,1\n", load
    )
    bound = offline_bound(scenario, 10 * 3600, 3600)
    assert bound.per_ev_kwh["a"] == pytest.approx(24 * 230 / 1000)
    assert bound.per_ev_kwh["b"] == pytest.approx(4 * 230 / 1000)


def test_the_bound_is_never_below_what_the_policy_delivered():
    scenario = load_scenario(EXAMPLE / "site.toml", EXAMPLE / "load.csv", EXAMPLE / "sessions.csv")
    result = simulate(scenario, start_s=18 * 3600, duration_s=1800)
    bound = offline_bound(scenario, 18 * 3600, 1800)
    assert result.delivered_kwh > 0.8 * bound.total_kwh  # a fair comparison, not a loose bound
    assert result.delivered_kwh <= bound.total_kwh + 0.05
    assert sum(bound.per_ev_kwh.values()) == pytest.approx(bound.total_kwh)
