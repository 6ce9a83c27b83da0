"""`csms simulate`: its input files, the stepping with the real control policy, its figures, the
offline bound, and agreement with the real-I/O demo."""

from __future__ import annotations

import enum
import json
import re
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel

from csms.cli import main
from csms.demo import DemoOptions, run_demo
from csms.demo import day_files as demo_day
from csms.demo.scenario import household_a, pv_a, sessions
from csms.simulate.bound import EvSpan, moment_max_a, offline_bound, per_moment
from csms.simulate.engine import Simulation, simulate, window
from csms.simulate.metrics import FairnessTally, jain
from csms.simulate.policies import policies, with_policy
from csms.simulate.scenario import (
    LoadPoint,
    LoadProfile,
    ScenarioError,
    Visit,
    format_time,
    load_profile,
    load_scenario,
    load_sessions,
    load_site,
    parse_time,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demo-day"
SITE_TOML = """
[[sites]]
id = "home"
grid_limit_a = 25
margin_a = 1
[sites.meter]
type = "simulated"
poll_interval_s = 1
[[sites.stations]]
id = "A"
[[sites.stations]]
id = "B"
phase_rotation = "L2"
"""
KW_16A_3PH = 16 * 3 * 230 / 1000  # 11.04 kW


def site_files(
    tmp_path: Path,
    sessions_csv: str,
    load_csv: str = "time,household_a\n00:00,0\n",
    site_toml: str = SITE_TOML,
):
    (tmp_path / "site.toml").write_text(site_toml)
    (tmp_path / "load.csv").write_text(load_csv)
    (tmp_path / "sessions.csv").write_text(sessions_csv)
    return [str(tmp_path / n) for n in ("site.toml", "load.csv", "sessions.csv")]


def scenario_of(
    tmp_path: Path,
    sessions_csv: str,
    load_csv: str = "time,household_a\n00:00,0\n",
    site_toml: str = SITE_TOML,
):
    return load_scenario(*site_files(tmp_path, sessions_csv, load_csv, site_toml))


# -- files -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:00", 0), ("07:30", 27000), ("31:00", 111600), ("07:30:15", 27015), ("90", 90)],
)
def test_times(text, seconds):
    assert parse_time(text) == seconds
    assert parse_time(format_time(seconds)) == seconds


@pytest.mark.parametrize("text", ["7h", "07:60", "-5", "nan", "1:2:3:4", ""])
def test_bad_times(text):
    with pytest.raises(ValueError):
        parse_time(text)


def test_profile_holds_each_row_and_wraps_around_midnight():
    profile = LoadProfile(
        (LoadPoint(6 * 3600, (5, 5, 5), (0, 0, 0)), LoadPoint(18 * 3600, (9, 8, 7), (0, 0, 0)))
    )
    assert profile.at(6 * 3600).household_a == (5, 5, 5)
    assert profile.at(17.9 * 3600).household_a == (5, 5, 5)
    assert profile.at(3 * 3600).household_a == (9, 8, 7)  # before the first row: last night's
    assert profile.at(86400 + 7 * 3600).household_a == (5, 5, 5)  # the day repeats


@pytest.mark.parametrize(
    ("header", "row", "household", "pv"),
    [
        ("time,household_l1,household_l2,household_l3,pv_l1,pv_l2,pv_l3", "00:00,1,2,3,4,5,6",
         (1, 2, 3), (4, 5, 6)),
        ("time,household_a,pv_a", "00:00,4,2", (4, 4, 4), (2, 2, 2)),
        ("time,household_kw", "00:00,6.9", (10, 10, 10), (0, 0, 0)),
    ],
)  # fmt: skip
def test_profile_columns(header, row, household, pv):
    profile = load_profile("p.csv", 3, text=f"{header}\n{row}\n")
    assert profile.points[0].household_a == pytest.approx(household)
    assert profile.points[0].pv_a == pytest.approx(pv)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("household_a\n1\n", "p.csv: line 1: no 'time' column"),
        ("time,pv_a\n00:00,1\n", "p.csv: line 1: no household column"),
        ("time,household_a\n00:00,x\n", "p.csv: line 2: household_a = 'x' is not a number"),
        ("time,household_a\n00:00,-1\n", "p.csv: line 2: household_a = -1 must be at least 0"),
        ("time,household_a\n01:00,1\n00:30,1\n", "p.csv: line 3: time 00:30 is not after"),
        ("time,household_a\n24:00,1\n", "p.csv: line 2: time 24:00 is not within a day"),
        ("time,household_a\n", "p.csv: no rows"),
        ("time,household_a\n00:00,1,2\n", "p.csv: line 2: more values than columns"),
    ],
)
def test_bad_profiles_name_line_and_field(text, message):
    with pytest.raises(ScenarioError, match="^" + re.escape(message)):
        load_profile("p.csv", 3, text=text)


HEAD = "name,arrival,departure,energy_kwh,phases,max_current_a,station,connector\n"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("a,17:00,18:00,10,4,16,A,1\n", "line 2: phases = 4 must be 1, 2 or 3"),
        ("a,17:00,18:00,10,3,16,Z,1\n", "line 2: station 'Z' is not in the site (A, B)"),
        ("a,17:00,18:00,10,3,16,A,3\n", "line 2: connector = 3 must be 1 or 2"),
        ("a,17:00,18:00,ten,3,16,A,1\n", "line 2: energy_kwh = 'ten' is not a number"),
        ("a,5pm,18:00,10,3,16,A,1\n", "line 2: arrival: not a time: '5pm'"),
        ("a,17:00,20:00,10,3,16,A,1\nb,19:00,21:00,10,3,16,A,1\n",
         "line 3: b overlaps another visit on A/1"),
        ("a,17:00,20:00,10,3,16,,\nb,17:00,20:00,10,3,16,,\nc,18:00,19:00,10,3,16,,\n",
         "line 4: no socket is free for c from 18:00 to 19:00"),
    ],
)  # fmt: skip
def test_bad_sessions_name_line_and_field(rows, message):
    site, _ = load_site_text()
    with pytest.raises(ScenarioError, match="^" + re.escape("s.csv: " + message)):
        load_sessions("s.csv", site, text=HEAD + rows)


def load_site_text():
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as fh:
        fh.write(SITE_TOML)
    return load_site(fh.name)


def test_sessions_without_a_socket_take_the_first_free_one_and_pass_midnight():
    site, _ = load_site_text()
    text = "arrival,departure,energy_kwh,phases,max_current_a\n" + "\n".join(
        ["18:00,07:00,30,3,16", "19:00,22:00,10,1,16", "22:30,23:00,5,3,16", "23:30,08:00,5,3,16"]
    )
    visits, sockets = load_sessions("s.csv", site, text=text)
    placed = [(v.name, v.station, v.connector, v.leave_s) for v in visits]
    assert placed == [
        ("EV1", "A", 1, 31 * 3600),  # a departure before the arrival is the next morning
        ("EV2", "B", 1, 22 * 3600),
        ("EV3", "B", 1, 23 * 3600),  # B/1 is free again after EV2 left
        ("EV4", "B", 1, 32 * 3600),
    ]
    assert sockets == {"A": 1, "B": 1}


def test_a_bad_site_file_is_one_line_naming_the_setting(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text(SITE_TOML.replace("grid_limit_a = 25", "grid_limit_a = -25"))
    with pytest.raises(ScenarioError, match=r"setting sites\[0\]\.grid_limit_a: "):
        load_site(path)
    path.write_text("[charging]\n")
    with pytest.raises(ScenarioError, match="no \\[\\[sites\\]\\] table"):
        load_site(path)


def test_demo_day_files_are_written_where_asked(tmp_path):
    assert demo_day.main([str(tmp_path / "day")]) == 0
    assert sorted(p.name for p in (tmp_path / "day").iterdir()) == sorted(demo_day.files())
    assert demo_day.main([]) == 2


def test_example_files_are_the_demo_day():
    for name, text in demo_day.files().items():
        regenerate = f"regenerate: python -m csms.demo.day_files {EXAMPLE}"
        assert (EXAMPLE / name).read_text() == text, regenerate
    scenario = load_scenario(EXAMPLE / "site.toml", EXAMPLE / "load.csv", EXAMPLE / "sessions.csv")
    sockets = [(sid, c) for sid, n in demo_day.layout() for c in range(1, n + 1)]
    expected = sorted(
        (e.name, e.station, e.connector, e.arrive_s, e.leave_s, e.battery_kwh, e.phases,
         e.max_current_a)
        for e in sessions(sockets)
    )  # fmt: skip
    got = sorted(
        (v.name, v.station, v.connector, v.arrive_s, v.leave_s, v.need_kwh, v.phases,
         v.max_current_a)
        for v in scenario.visits
    )  # fmt: skip
    assert got == expected
    for t in range(0, 86400, 3599):  # any moment: within the minute's drift of the demo's ramps
        point = scenario.profile.at(t)
        assert point.household_a == pytest.approx(household_a(t), abs=0.1)
        assert point.pv_a == pytest.approx(pv_a(t), abs=0.1)
    demo_site = DemoOptions().settings(502, "sqlite://").sites[0]
    assert [(s.id, s.phase_rotation) for s in scenario.site.stations] == [
        (s.id, s.phase_rotation) for s in demo_site.stations
    ]
    assert (scenario.site.grid_limit_a, scenario.site.margin_a) == (25, 1)
    # Every setting the control policy reads is the demo's: the example once lacked the demo's
    # `pv_export_max_a`, so the meter check took the PV's export for a meter that does not see
    # the EVs and held the safe current for hours of the simulated day.
    control = (
        "grid_limit_a", "margin_a", "safe_current_a", "meter_includes_ev", "pv_export_a",
        "meter_check_tolerance_a", "mode", "min_current_a", "alternating_period_s", "sharing",
        "ramp_a_per_s", "phases",
    )  # fmt: skip
    assert {k: getattr(scenario.site, k) for k in control} == {
        k: getattr(demo_site, k) for k in control
    }


# -- figures ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "index"), [([1, 1, 1], 1.0), ([1, 0, 0], 1 / 3), ([2, 1], 0.9), ([0, 0], 1.0)]
)
def test_jain(values, index):
    assert jain(values) == pytest.approx(index)


def test_fairness_groups_only_equal_evs_wanting_together():
    tally = FairnessTally()
    kind, other = (3, 16.0), (1, 32.0)
    tally.add({"a": (kind, 16.0), "b": (kind, 0.0), "c": (other, 32.0)}, 600)
    tally.add({"a": (kind, 0.0), "b": (kind, 16.0), "c": (other, 32.0)}, 600)  # alternation
    tally.add({"a": (kind, 16.0), "c": (other, 0.0)}, 600)  # alone in its kind: not counted
    mean, worst = tally.index()
    assert mean == pytest.approx(1.0) and worst == pytest.approx(1.0)
    assert tally.moment_index() == pytest.approx(0.5)  # one of the two paused at every moment
    tally.add({"x": (kind, 16.0), "y": (kind, 0.0)}, 1200)  # never alternated
    mean, worst = tally.index()
    assert worst == pytest.approx(0.5) and mean == pytest.approx((1.0 * 1200 + 0.5 * 1200) / 2400)


def test_window_moves_visits_that_ended_before_the_start_to_the_next_day():
    def visit(name, arrive, leave):
        return Visit(name, "A", 1, arrive * 3600, leave * 3600, 10, 3, 16)

    visits = (visit("morning", 8, 12), visit("plugged", 13, 17), visit("late", 40, 41))
    tracks = window(visits, 16 * 3600, 40 * 3600)
    assert [(t.visit.name, t.arrive_s / 3600, t.leave_s / 3600) for t in tracks] == [
        ("plugged", 16, 17),  # already plugged in at the start
        ("morning", 32, 36),  # comes again the next morning
    ]


# -- the simulation --------------------------------------------------------------------------------


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


# -- the offline bound -----------------------------------------------------------------------------


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


# -- the command -----------------------------------------------------------------------------------


def test_command_prints_json_figures(tmp_path, capsys):
    files = site_files(tmp_path, HEAD + "a,10:00,10:30,40,3,16,A,1\n")
    argv = ["simulate", "--site", files[0], "--profile", files[1], "--sessions", files[2]]
    code = main([*argv, "--start", "10:00", "--duration", "1h", "--json"])
    assert code == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["seconds_above_beyond_reaction"] == 0
    assert figures["missed_departures"] == 1 and figures["evs"][0]["missed_departure"]
    assert main([*argv, "--start", "10:00", "--duration", "1h"]) == 0
    text = capsys.readouterr().out
    assert "energy per EV" in text and "Missed departures: 1" in text and "A·s" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--site": "missing.toml"}, "setting config: file missing.toml not found"),
        ({"--policy": "bogus"}, "--policy 'bogus' is not a sharing policy"),
        ({"--step": "0"}, None),
    ],
)
def test_command_errors_are_one_line(tmp_path, capsys, change, message):
    files = site_files(tmp_path, HEAD + "a,10:00,10:30,40,3,16,A,1\n")
    args = {"--site": files[0], "--profile": files[1], "--sessions": files[2], **change}
    argv = ["simulate", *[x for pair in args.items() for x in pair]]
    if message is None:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        return
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("csms: ") and message in err and "\n" not in err


# -- agreement with the real-I/O demo --------------------------------------------------------------


async def test_simulation_agrees_with_the_demo_on_the_same_window():
    """The demo (real websockets, Modbus, database) at a low speed and `csms simulate` over the
    same 15 minutes of the evening peak deliver the same energy per EV.

    The demo's stations boot in simulated time before its first EV plugs in (a real second or
    more, depending on the machine's load), so the simulation starts when the demo's EVs were
    plugged in. Tolerance: one minute of the site's usable power, for what the simulation leaves
    out: every change in the demo crosses real sockets (a few simulated seconds each at 30×).
    """
    options = DemoOptions(start_s=18 * 3600, duration_s=15 * 60, speed=30)
    summary = await run_demo(options)
    demo = {ev.name: ev.energy_kwh for ev in summary.evs}
    plugged = [ev.plugged_in_s for ev in summary.evs if ev.plugged_in_s is not None]
    assert len(plugged) == 2 and max(plugged) - min(plugged) < 60  # together, at the first sample
    start_s = min(plugged)
    end_s = options.start_s + summary.simulated_s
    scenario = load_scenario(EXAMPLE / "site.toml", EXAMPLE / "load.csv", EXAMPLE / "sessions.csv")
    settings = options.settings(502, "sqlite://")  # the demo's site: its poll, validity, timeouts
    result = Simulation(
        scenario,
        start_s=start_s,
        duration_s=end_s - start_s,
        site=settings.sites[0],
        charging=settings.charging,
        sample_interval_s=options.sample_interval_s,  # as the demo's stations sample
    ).run()
    simulated = {ev.visit.name: ev.energy_kwh for ev in result.evs}
    assert set(simulated) == set(demo) == {"Model 3", "Zoe"}
    # The two EVs share the usable 24 A per phase: one minute of that is 0.28 kWh.
    one_minute_kwh = 24 * 3 * 230 / 1000 / 60
    for name, kwh in simulated.items():
        assert demo[name] == pytest.approx(kwh, abs=one_minute_kwh), (demo, simulated)
        assert kwh > 3 * one_minute_kwh  # they really charged
    assert summary.seconds_above_beyond_reaction == result.tally.beyond_reaction_s == 0
