"""`csms sim stations`: option errors and a real run against an in-test central system."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from csms.cli import build_parser, main
from csms.cli.sim_stations import _summary, build_site
from tests.support.fixtures_sim import MiniCentralSystem


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--url", "http://h:9000/ocpp"], "must start with ws://"),
        (["--url", "ws://h/ocpp", "--count", "0"], "--count"),
        (["--url", "ws://h/ocpp", "--speed", "0"], "--speed"),
        (["--url", "ws://h/ocpp", "--phase-rotation", "L4"], "--phase-rotation"),
        (["--url", "ws://h/ocpp", "--sample-interval", "-1"], "--sample-interval"),
        (["--url", "ws://h/ocpp", "--ev-current", "0"], "--ev-current"),
        (["--url", "ws://h/ocpp", "--speed", "nan"], "--speed"),
        (["--url", "ws://h/ocpp", "--speed", "inf"], "--speed"),
        (["--url", "ws://h/ocpp", "--ev-current", "nan"], "--ev-current"),
        (["--url", "ws://h/ocpp", "--report-every", "0"], "--report-every"),
        (["--url", "ws://h/ocpp", "--report-every", "nan"], "--report-every"),
    ],
)
def test_bad_options_are_one_line_errors(argv, message, capsys) -> None:
    assert main(["sim", "stations", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_options_build_the_site() -> None:
    args = build_parser().parse_args([
        "sim", "stations", "--url", "ws://h:9000/ocpp", "--count", "4", "--sockets", "2",
        "--prefix", "X-", "--first", "7", "--speed", "30", "--sample-interval", "10",
    ])  # fmt: skip
    site = build_site(args)
    assert [s.station_id for s in site.stations] == ["X-0007", "X-0008", "X-0009", "X-0010"]
    assert [s.config.value("Phase-Connected") for s in site.stations] == [
        "L1L2L3", "L3L1L2", "L2L3L1", "L1L2L3"
    ]  # fmt: skip
    assert {s.url for s in site.stations} >= {"ws://h:9000/ocpp/X-0007"}
    assert all(s.sockets == 2 for s in site.stations)
    assert site.clock.speed == 30
    assert site.stations[0].config.value("MeterValueSampleInterval") == "10"
    assert not site.stations[0].strict_boot and not site.stations[0].unphased_current


def test_firmware_behaviour_flags() -> None:
    args = build_parser().parse_args(
        ["sim", "stations", "--url", "ws://h/ocpp", "--strict-boot", "--unphased-current"]
    )
    site = build_site(args)
    (station,) = site.stations
    assert station.strict_boot and station.unphased_current
    station.refused_before_boot.append("GetConfiguration")
    assert _summary(site).endswith(", 1 CALL(s) refused before the boot answer")


async def test_runs_stations_with_evs_until_interrupted(mini_cs: MiniCentralSystem) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "csms.cli", "sim", "stations", "--url", mini_cs.url,
        "--count", "2", "--sockets", "2", "--plug-in", "--ev-phases", "1", "--report-every", "0.2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        await mini_cs.wait_for(
            lambda: (
                sum(len(mini_cs.messages(s, "StartTransaction")) for s in mini_cs.received) == 4
            ),
            within_s=30,
        )
        assert set(mini_cs.received) == {"ALF-0001", "ALF-0002"}
        await asyncio.sleep(0.5)  # at least one summary line with the sessions
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert "2 simulated station(s) connecting to" in text
    assert "2/2 stations booted, 4 transactions" in text


async def _first_warning(argv: list[str]) -> tuple[str, int]:
    """Run `csms sim stations ARGV` until its first warning line; (the line, exit code)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "csms.cli", "sim", "stations", *argv, "--report-every", "600",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode().strip()
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode is not None
    return line, proc.returncode


async def test_says_why_stations_cannot_connect_or_boot(tmp_path) -> None:
    from csms.app import running_central_system
    from csms.auth import hash_password
    from tests.support.databases import make_settings

    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite3", unknown_stations="pending")
    async with running_central_system(settings) as cs:
        await cs.store.stations.create("ALF-0001", "accepted", 0)
        await cs.store.stations.set_password_hash("ALF-0001", hash_password("the right one"))
        line, code = await _first_warning(["--url", cs.ocpp_url, "--password", "a wrong one"])
        assert code == 0
        assert line.startswith("warning: ALF-0001: cannot connect: ") and "HTTP 401" in line
        assert "wrong or missing --password" in line
        line, code = await _first_warning(["--url", cs.ocpp_url, "--first", "2"])
        assert line == (
            "warning: ALF-0002: BootNotification answered Pending "
            "(approve with `csms stations approve ID`)"
        )
