"""`csms demo`: headless runs, its summary, its scenario and its accounting."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from rich.console import Console

from csms.cli import main
from csms.cli.demo import duration
from csms.demo.run import LOOP_REAL_S, REACTION_S, DemoOptions, GridTally, run_demo
from csms.demo.scenario import DAY_S, household_a, pv_a, sessions
from csms.demo.view import render, render_summary


def test_demo_runs_headless_and_never_stays_above_the_grid_limit():
    # 30 simulated minutes of the evening peak (18:00, the cooker on, two EVs sharing, a third
    # arriving at 18:30) at the default speed, the fastest that still reacts within 30 s: ≈ 30 s.
    result = subprocess.run(
        [sys.executable, "-m", "csms.cli", "demo", "--start", "18:00", "--duration", "31m",
         "--json"],
        capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["reaction_s"] == REACTION_S  # the same at every speed
    assert summary["speed"] == 60
    assert summary["seconds_above_beyond_reaction"] == 0
    assert summary["ampere_seconds_beyond_reaction"] == 0
    assert summary["simulated_s"] == pytest.approx(31 * 60, abs=30)
    assert len(summary["evs"]) >= 3
    assert all(ev["energy_kwh"] > 0 for ev in summary["evs"][:2])
    assert max(summary["peak_a"]) > 15  # the EVs really charged against the limit


@pytest.mark.parametrize(
    ("poll", "speed", "fastest"), [(0.1, None, 60), (0.05, None, 75), (0.5, None, 23)]
)
def test_default_speed_is_the_fastest_that_reacts_in_time(poll, speed, fastest):
    options = DemoOptions(poll_interval_s=poll, speed=speed)
    assert options.speed == fastest
    assert options.reaction_s == REACTION_S
    # Two polls plus the loop's own time, stretched by the speed, fit into the reaction time.
    assert (2 * poll + LOOP_REAL_S) * options.sim_speed <= REACTION_S


@pytest.mark.parametrize(("poll", "speed"), [(0.1, 61), (0.1, 1440), (0.5, 120)])
def test_a_speed_the_loop_cannot_keep_up_with_is_refused(poll, speed):
    with pytest.raises(ValueError, match=r"--speed .* too fast .* use --speed \d+ or less"):
        DemoOptions(poll_interval_s=poll, speed=speed)


def test_too_fast_speed_is_a_one_line_error(capsys):
    assert main(["demo", "--speed", "1440"]) == 1
    err = capsys.readouterr().err.strip()
    assert "too fast" in err and "use --speed 60 or less" in err and "\n" not in err


async def test_live_view_and_summary_render():
    frames: list[str] = []

    def frame(state) -> None:
        console = Console(record=True, width=140)
        console.print(render(state))
        frames.append(console.export_text())

    options = DemoOptions(duration_s=900, start_s=17.4 * 3600)
    summary = await run_demo(options, on_frame=frame)
    assert frames and "ALF-0001/1" in frames[-1] and "L1" in frames[-1]
    console = Console(record=True, width=140)
    console.print(render_summary(summary))
    text = console.export_text()
    assert "Energy delivered per EV" in text and "30 s reaction time" in text and "A·s" in text


@pytest.mark.parametrize(
    ("name", "samples", "above", "beyond", "episodes", "amp_s", "beyond_amp_s"),
    [
        ("never above", [(24.0, 10)] * 5, 0, 0, 0, 0, 0),
        ("short episode within reaction", [(26.0, 10)] * 3 + [(24.0, 10)], 30, 0, 1, 30, 0),
        ("long episode counts the excess", [(26.0, 10)] * 8, 80, 30, 1, 80, 30),
        ("two short episodes", [(26.0, 10), (24.0, 10), (26.0, 10), (24.0, 10)], 20, 0, 2, 20, 0),
        ("ampere-seconds weigh the excess", [(27.0, 10)] * 6, 60, 10, 1, 120, 20),
        ("a rounding hair is not above", [(25.04, 10)] * 8, 0, 0, 0, 0, 0),
    ],
)
def test_grid_tally(name, samples, above, beyond, episodes, amp_s, beyond_amp_s):
    tally = GridTally(limit_a=25.0, reaction_s=50.0)
    for amps, dt in samples:
        tally.add((amps, 10.0, 10.0), dt)
    assert (tally.above_s, tally.beyond_reaction_s, tally.episodes) == (above, beyond, episodes)
    assert tally.amp_s == pytest.approx(amp_s)
    assert tally.beyond_reaction_amp_s == pytest.approx(beyond_amp_s)


@pytest.mark.parametrize(
    ("stations", "sockets", "layout"),
    [
        (3, 4, [("ALF-0001", 2), ("ALF-0002", 1), ("ALF-0003", 1)]),
        (2, 2, [("ALF-0001", 1), ("ALF-0002", 1)]),
        (1, 2, [("ALF-0001", 2)]),
    ],
)
def test_layout_puts_doubles_first(stations, sockets, layout):
    assert DemoOptions(stations=stations, sockets=sockets).layout() == layout


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sockets": 7}, "--sockets"),
        ({"stations": 0}, "--stations"),
        ({"speed": 0}, "--speed"),
        ({"grid_limit_a": 1}, "--grid-limit"),
        ({"speed": float("nan")}, "--speed"),
        ({"speed": float("inf")}, "--speed"),
        ({"duration_s": float("nan")}, "--duration"),
        ({"poll_interval_s": 0}, "--poll"),
        ({"poll_interval_s": float("nan")}, "--poll"),
        ({"grid_limit_a": float("nan")}, "--grid-limit"),
        ({"grid_limit_a": float("inf")}, "--grid-limit"),
        ({"speed": 1e9}, "--speed"),  # the scaled profile validity would exceed a day
    ],
)
def test_options_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DemoOptions(**kwargs)


@pytest.mark.parametrize(
    "argv",
    [["--sockets", "9"], ["--poll", "0"], ["--speed", "nan"], ["--grid-limit", "inf"]],
)
def test_bad_options_are_one_line_errors(capsys, argv):
    assert main(["demo", *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("csms: ") and "\n" not in err


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400)]
)
def test_duration(text, seconds):
    assert duration(text) == seconds


def test_scenario_is_plausible():
    peaks = [max(household_a(t)) for t in range(0, int(DAY_S), 600)]
    assert max(peaks) < 20  # the household alone never needs the whole grid connection
    assert pv_a(2 * 3600) == (0.0, 0.0, 0.0) and min(pv_a(13 * 3600)) > 10
    visits = sessions([("A", 1), ("A", 2), ("B", 1), ("C", 1)])
    assert len(visits) == 8
    for socket in {(v.station, v.connector) for v in visits}:
        own = sorted((v.arrive_s % DAY_S, v.leave_s - v.arrive_s) for v in visits
                     if (v.station, v.connector) == socket)  # fmt: skip
        assert all(d > 0 for _, d in own)
