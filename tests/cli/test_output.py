"""What the client commands print: readable times, bounded columns, live energy, offline stations,
and a quiet end when the reader of a pipe goes away (issue 10, item 18)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from csms.app import CentralSystem
from csms.charging.views import site_view
from csms.cli import SIGPIPE_EXIT
from csms.sim.ev import SimEv
from tests.support.cli import run_cli
from tests.support.site_rig import StationSpec, eventually, site_rig

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


async def test_stations_show_prints_times_not_epoch_seconds(
    central_system: CentralSystem, sim_stations: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cs = central_system
    (station,) = await sim_stations(1, cs.ocpp_url)
    sid = station.station_id
    code, out, _ = await run_cli(capsys, cs.api_url, "stations", "show", sid)
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith(f"{sid}: accepted, online, last seen ") and first.endswith(" UTC")
    assert TIMESTAMP.search(first)
    assert "firmware:      5.8.1-4123" in out and "booted:" in out
    # No epoch seconds anywhere (they have ten digits and a fraction).
    assert not re.search(r"\b1\d{9}(\.\d+)?\b", out), out
    code, out, _ = await run_cli(capsys, cs.api_url, "stations", "list")
    assert code == 0 and "LAST_SEEN" in out and TIMESTAMP.search(out)
    code, out, _ = await run_cli(capsys, cs.api_url, "stations", "show", sid, "--json")
    assert code == 0 and '"last_seen": 1' in out  # the raw answer keeps its numbers


async def test_config_catalog_fits_a_terminal(
    central_system: CentralSystem, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await run_cli(capsys, central_system.api_url, "config", "catalog")
    assert code == 0 and "SCN-AlternatingPeriod" in out
    widest = max(len(line) for line in out.splitlines())
    assert widest <= 160, f"catalog lines up to {widest} characters wide"
    # A key in full: every allowed value.
    code, out, _ = await run_cli(
        capsys, central_system.api_url, "config", "catalog", "Phase-Connected"
    )
    assert code == 0 and out.startswith("Phase-Connected (")
    assert "L1L2L3" in out and "L3L2L1" in out
    code, _, err = await run_cli(capsys, central_system.api_url, "config", "catalog", "No-Such-Key")
    assert code == 1 and err.strip() == "csms: No-Such-Key is not in the catalog"


def _closed_reader(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI with its stdout pipe closed by the reader before anything is written."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "csms.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head` that has seen enough
    err = proc.stderr.read()
    return subprocess.CompletedProcess(argv, proc.wait(timeout=60), "", err)


async def test_a_closed_pipe_ends_quietly(central_system: CentralSystem) -> None:
    for argv in (
        ["config", "catalog", "--api", central_system.api_url],
        ["settings", "example"],
    ):
        result = await asyncio.to_thread(_closed_reader, argv)
        assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
        assert result.stderr == ""
        assert result.returncode == SIGPIPE_EXIT


async def test_transactions_show_the_energy_of_a_running_session(
    central_system: CentralSystem, sim_stations: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cs = central_system
    (station,) = await sim_stations(1, cs.ocpp_url, config={"MeterValueSampleInterval": "1"})
    station.plug_in(1, SimEv(max_current_a=16.0))
    tx = await station.wait_transaction(1, within_s=20)

    async def energy() -> int | None:
        code, out, _ = await run_cli(capsys, cs.api_url, "transactions", "--json")
        assert code == 0
        (row,) = [t for t in json.loads(out) if t["id"] == tx]
        return row["energy_wh"]

    async with asyncio.timeout(60):
        while not (await energy() or 0) > 0:  # noqa: ASYNC110 - polling the API
            await asyncio.sleep(0.5)
    code, out, _ = await run_cli(capsys, cs.api_url, "transactions")
    assert code == 0
    (line,) = [line for line in out.splitlines() if line.startswith(str(tx))]
    assert "(running)" in line and int(line.split()[-1]) > 0, out


async def test_site_shows_offline_stations_as_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with site_rig(tmp_path, [StationSpec("ALF-0001"), StationSpec("ALF-0002")]) as rig:
        await rig.plug_in("ALF-0001")
        await rig.plug_in("ALF-0002")

        def charging_with_targets() -> bool:
            connectors = site_view(rig.loop.read_model(rig.cs.clock()))["connectors"]
            return all(c["target_a"] and c["status"] == "Charging" for c in connectors)

        await eventually(charging_with_targets)
        await rig.station("ALF-0002").stop()  # the power is cut
        await eventually(lambda: not rig.cs.registry.is_online("ALF-0002"))
        code, out, _ = await run_cli(capsys, rig.cs.api_url, "site", "site")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("ALF-")}
    assert "Charging" in rows["ALF-0001/1"] and "offline" not in rows["ALF-0001/1"]
    offline = rows["ALF-0002/1"]
    assert "offline (last Charging)" in offline and "station offline" in offline
    assert not re.search(r"\d+\.\d", offline), offline  # no target, accepted or composite
