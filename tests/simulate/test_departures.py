"""`csms simulate` with departures (issue 11, item 9): the sessions CSV's optional told columns,
old files unchanged, and an EV that tells its departure makes it where it missed before."""

from __future__ import annotations

import json

import pytest

from csms.cli import main
from csms.simulate.engine import simulate
from csms.simulate.scenario import ScenarioError
from tests.simulate.scenarios import HEAD, scenario_of, site_files

# Two 3-phase EVs on one double station, 24 A per phase for both: 12 A each when shared
# equally. The first needs 6 kWh within 40 minutes (13 A on 3 phases): it misses at 12 A.
TWO = "short,10:00,10:40,6,3,16,A,1{told}\nlong,10:00,14:00,30,3,16,A,2{told}\n"


def test_told_columns_are_optional_and_read(tmp_path):
    old = scenario_of(tmp_path, HEAD + TWO.format(told=""))
    assert all(v.told_departure_s is None and v.told_energy_kwh is None for v in old.visits)
    told = scenario_of(
        tmp_path,
        HEAD.rstrip("\n") + ",told_departure,told_energy_kwh\n"
        "short,10:00,11:00,10,3,16,A,1,yes,yes\n"
        "long,22:00,06:00,30,3,16,A,2,07:00,\n",
    )
    short, long = told.visits
    assert (short.told_departure_s, short.told_energy_kwh) == (11 * 3600, 10.0)  # as written
    # Told 07:00 for a visit that passes midnight: the next morning, after the arrival.
    assert (long.told_departure_s, long.told_energy_kwh) == (31 * 3600, None)
    assert long.telling_all().told_departure_s == long.leave_s


def test_a_bad_told_value_names_line_and_field(tmp_path):
    with pytest.raises(ScenarioError, match="line 2: told_energy_kwh"):
        scenario_of(
            tmp_path,
            HEAD.rstrip("\n") + ",told_energy_kwh\nshort,10:00,11:00,10,3,16,A,1,lots\n",
        )


@pytest.mark.timeout(900)  # three simulated 45 minutes: slow on a loaded machine
def test_an_ev_that_tells_its_departure_makes_it(tmp_path):
    scenario = scenario_of(tmp_path, HEAD + TWO.format(told=""))
    before = simulate(scenario, start_s=10 * 3600, duration_s=45 * 60)
    after = simulate(scenario, start_s=10 * 3600, duration_s=45 * 60, departures_known=True)
    assert [e.missed for e in before.evs] == [True, False]
    assert [e.missed for e in after.evs] == [False, False]
    assert after.evs[0].energy_kwh == pytest.approx(6.0, abs=0.02)
    assert after.tally.beyond_reaction_s == 0
    # The told columns do the same as --departures-known.
    told = HEAD.rstrip("\n") + ",told_departure,told_energy_kwh\n" + TWO.format(told=",yes,yes")
    by_columns = simulate(scenario_of(tmp_path, told), start_s=10 * 3600, duration_s=45 * 60)
    assert by_columns.as_dict() == after.as_dict()


@pytest.mark.timeout(900)
def test_command_takes_departures_known(tmp_path, capsys):
    files = site_files(tmp_path, HEAD + TWO.format(told=""))
    args = ["simulate", "--site", files[0], "--profile", files[1], "--sessions", files[2]]
    args += ["--start", "10:00", "--duration", "45m", "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["missed_departures"] == 1
    assert main([*args, "--departures-known"]) == 0
    assert json.loads(capsys.readouterr().out)["missed_departures"] == 0
