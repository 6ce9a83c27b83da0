"""`csms simulate` stepping the real control policy: sharing, missed departures, determinism,
slower stations, the policies to choose from, the simulated window."""

from __future__ import annotations

import enum
from typing import Literal

import pytest
from pydantic import BaseModel

from csms.simulate.bound import per_moment
from csms.simulate.engine import Simulation, simulate, window
from csms.simulate.policies import policies, with_policy
from csms.simulate.scenario import Visit
from tests.simulate.scenarios import HEAD, SITE_TOML, scenario_of


def test_window_moves_visits_that_ended_before_the_start_to_the_next_day():
    def visit(name, arrive, leave):
        return Visit(name, "A", 1, arrive * 3600, leave * 3600, 10, 3, 16)

    visits = (visit("morning", 8, 12), visit("plugged", 13, 17), visit("late", 40, 41))
    tracks = window(visits, 16 * 3600, 40 * 3600)
    assert [(t.visit.name, t.arrive_s / 3600, t.leave_s / 3600) for t in tracks] == [
        ("plugged", 16, 17),  # already plugged in at the start
        ("morning", 32, 36),  # comes again the next morning
    ]


def test_a_lone_ev_charges_at_its_maximum_and_stops_at_its_need(tmp_path):
    # It leaves at 11:00 with time to spare: the window ends soon after (each simulated hour
    # runs the real control step 3600 times).
    scenario = scenario_of(tmp_path, HEAD + "ev,10:00,11:00,5,3,16,A,1\n")
    result = simulate(scenario, start_s=10 * 3600, duration_s=1.25 * 3600)
    (ev,) = result.evs
    assert ev.energy_kwh == pytest.approx(5.0, abs=0.01)
    assert not ev.missed and ev.gone
    # 5 kWh at 11.04 kW take 27 min, plus the probing minute at 14 A and the ramp.
    full_at = next(p.t for p in result.trace if "ev" not in p.wanting and p.t > 10 * 3600)
    assert 27 * 60 < full_at - 10 * 3600 < 31 * 60
    assert result.tally.above_s == 0


def test_the_evs_share_the_grid_and_follow_the_household_without_overload(tmp_path):
    load = "time,household_l1,household_l2,household_l3\n00:00,2,2,2\n18:00,12,6,8\n19:00,3,3,3\n"
    scenario = scenario_of(
        tmp_path, HEAD + "a,17:30,21:00,40,3,16,A,1\nb,17:30,21:00,40,1,32,B,1\n", load
    )
    result = simulate(scenario, start_s=17.5 * 3600, duration_s=3 * 3600)
    assert result.tally.beyond_reaction_s == 0  # the 18:00 jump is answered within the reaction
    assert 0 < result.tally.above_s <= result.reaction_s * result.tally.episodes
    a, b = result.evs
    assert a.energy_kwh > 15 and b.energy_kwh > 5  # both charged all along
    moments = per_moment(scenario, result)
    assert 0.8 < moments.ratio <= 1.05


def test_two_equal_evs_on_a_small_connection_alternate_fairly(tmp_path):
    # 9 A usable per phase: one 16 A EV at a time gets at least its 6 A, two would not.
    small = SITE_TOML.replace("grid_limit_a = 25", "grid_limit_a = 10").replace('"L2"', '"L1L2L3"')
    sessions_csv = HEAD + "a,10:00,14:00,60,3,16,A,1\nb,10:00,14:00,60,3,16,B,1\n"
    scenario = scenario_of(tmp_path, sessions_csv, site_toml=small)
    result = simulate(scenario, start_s=10 * 3600, duration_s=4 * 3600)
    a, b = result.evs
    assert a.energy_kwh > 1 and b.energy_kwh > 1
    mean, _ = result.fairness.index()
    assert mean is not None and mean > 0.9
    assert result.tally.beyond_reaction_s == 0


def test_an_impossible_need_is_a_missed_departure(tmp_path):
    scenario = scenario_of(tmp_path, HEAD + "ev,10:00,11:00,30,1,16,B,1\n")
    result = simulate(scenario, start_s=9 * 3600, duration_s=3 * 3600)
    (ev,) = result.evs
    assert ev.missed and ev.energy_kwh == pytest.approx(3.68, abs=0.15)  # 16 A × 230 V × 1 h
    assert result.as_dict()["missed_departures"] == 1


def test_evs_plugged_in_at_the_start_find_the_safe_default_installed(tmp_path):
    # Two EVs plugged in from the first second: the stations already hold their safe default
    # (the site's 6 A safe current), so nothing exceeds the grid before the first allocation
    # lands; without it a station lets its EV start at the probing current (14 A).
    load = "time,household_a\n00:00,15\n"
    sessions_csv = HEAD + "a,10:00,11:00,40,3,32,A,1\nb,10:00,11:00,40,1,32,B,1\n"
    sim = Simulation(scenario_of(tmp_path, sessions_csv, load), start_s=10 * 3600, duration_s=600)
    assert all(
        planner.slots[(0, "TxDefaultProfile")].installed is not None
        for planner in sim.loop.planner.stations.values()
    )
    result = sim.run()
    assert result.tally.above_s == 0 and max(result.tally.peak_a) <= 25


def test_the_same_scenario_gives_the_same_figures(tmp_path):
    scenario = scenario_of(tmp_path, HEAD + "a,10:00,11:00,9,3,16,A,1\nb,10:10,11:00,9,1,16,B,1\n")
    first = simulate(scenario, start_s=10 * 3600, duration_s=3600).as_dict()
    assert simulate(scenario, start_s=10 * 3600, duration_s=3600).as_dict() == first


def test_the_loop_reads_the_meter_and_the_evs_samples_of_the_same_moment(tmp_path):
    # The loop takes the EVs' measured draw out of the meter reading: in the real system a
    # station samples about once per meter poll, and a sample and a reading of one moment show
    # the same draw. A sample taken before a command lands next to a reading taken after it
    # counted each raised or resumed EV as household and paused it again at once.
    small = SITE_TOML.replace("grid_limit_a = 25", "grid_limit_a = 10").replace('"L2"', '"L1L2L3"')
    sessions_csv = HEAD + "a,10:00,11:00,60,3,16,A,1\nb,10:00,11:00,60,3,16,B,1\n"
    sim = Simulation(scenario_of(tmp_path, sessions_csv, site_toml=small), start_s=10 * 3600)
    raised = 0
    for t in range(10 * 3600 + 2, 10 * 3600 + 600):  # from the first sample on
        sim.run_until(t)
        reading = sim.loop.reading
        assert reading is not None
        connectors = sim.loop.model.connectors.values()
        measured = sum(sum(c.measured_grid_a or (0.0, 0.0, 0.0)) for c in connectors)
        ev_in_reading = sum(reading.current_a)  # no household, no PV in this scenario
        assert ev_in_reading == pytest.approx(measured), t
        raised += ev_in_reading > 0
    assert raised > 300  # the EVs charged, one at a time, most of the time


def test_a_slower_station_makes_a_longer_overload_but_the_verdict_allows_for_it(tmp_path):
    load = "time,household_a\n00:00,2\n10:30,14\n"
    scenario = scenario_of(tmp_path, HEAD + "a,10:00,11:00,40,3,16,A,1\n", load)
    quick = Simulation(scenario, start_s=10 * 3600, duration_s=3600, delay_s=1).run()
    slow = Simulation(scenario, start_s=10 * 3600, duration_s=3600, delay_s=10).run()
    assert 0 < quick.tally.above_s < slow.tally.above_s
    assert quick.tally.beyond_reaction_s == slow.tally.beyond_reaction_s == 0
    assert slow.reaction_s > quick.reaction_s


class _Sharing(enum.Enum):
    EQUAL = "equal-current"
    ENERGY = "max-energy"


class _LiteralSite(BaseModel):
    sharing: Literal["equal-current", "equal-power"] = "equal-current"


class _OptionalSite(BaseModel):
    sharing: Literal["equal-current", "max-energy"] | None = None


class _EnumSite(BaseModel):
    sharing: _Sharing = _Sharing.EQUAL


@pytest.mark.parametrize(
    ("model", "names"),
    [
        (_LiteralSite, ("equal-current", "equal-power")),
        (_OptionalSite, ("equal-current", "max-energy")),
        (_EnumSite, ("equal-current", "max-energy")),
        (BaseModel, ()),  # a version without the setting
    ],
)
def test_policy_names_are_read_from_the_settings_field(model, names):
    assert policies(model) == names


def test_policies_come_from_the_settings_model(tmp_path):
    scenario = scenario_of(tmp_path, HEAD + "a,10:00,11:00,9,3,16,A,1\n")
    with pytest.raises(ValueError, match="--policy 'fastest-first' is not a sharing policy"):
        with_policy(scenario.site, "fastest-first")
    for policy in policies():
        assert with_policy(scenario.site, policy).sharing == policy  # type: ignore[attr-defined]
