"""`csms simulate`'s input files: times, load profiles, sessions, the site, the demo day."""

from __future__ import annotations

import re

import pytest

from csms.demo import DemoOptions
from csms.demo import day_files as demo_day
from csms.demo.scenario import household_a, pv_a, sessions
from csms.simulate.scenario import (
    LoadPoint,
    LoadProfile,
    ScenarioError,
    format_time,
    load_profile,
    load_scenario,
    load_sessions,
    load_site,
    parse_time,
)
from tests.simulate.scenarios import EXAMPLE, HEAD, SITE_TOML, load_site_text


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
