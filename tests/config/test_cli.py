"""The configuration and SCN commands of the CLI against a running central system (acceptance 7)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from csms.app import CentralSystem
from csms.sim.configuration import FEATURE_SCN, make_license_key
from tests.support.cli import csms, one_line_error

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scn-garage.toml"
REBOOT = {"reboot_delay_s": 0.1}


async def wait_snapshot(cs: CentralSystem, station_id: str) -> None:
    async with asyncio.timeout(60):  # generous: a loaded machine; a hang shows as this bound
        while await cs.config.store.latest_snapshot(station_id) is None:  # noqa: ASYNC110 - polling the database
            await asyncio.sleep(0.02)


async def test_config_commands(
    central_system: CentralSystem, sim_stations: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cs = central_system
    cs.config.boot_delay_s = 0.05
    (station,) = await sim_stations(1, cs.ocpp_url, **REBOOT)
    sid = station.station_id
    await wait_snapshot(cs, sid)

    code, out, _ = await csms(capsys, cs, "config", "get", sid)
    assert code == 0 and "Station-MaxCurrent" in out and "32.0" in out
    code, out, _ = await csms(capsys, cs, "config", "get", sid, "SCN-SocketID", "--refresh")
    assert code == 0 and out.startswith("SCN-SocketID = 0")

    code, out, _ = await csms(capsys, cs, "config", "set", sid, "HeartbeatInterval", "60")
    assert code == 0 and f"{sid} HeartbeatInterval=60: Accepted [verified]" in out
    code, _, err = await csms(capsys, cs, "config", "set", sid, "SCN-NetworkName", "bad-name!")
    assert "only A-Z and 0-9, at most 7 characters" in one_line_error(code, err)
    code, _, err = await csms(capsys, cs, "config", "set", sid, "Station-MaxCurrent", "abc")
    assert "must be a number" in one_line_error(code, err)

    before_reboot = await cs.config.store.latest_snapshot(sid)
    assert before_reboot is not None
    code, out, _ = await csms(
        capsys, cs, "config", "set", sid, "Phase-Connected", "L2", "--reboot", "now", "--wait"
    )
    assert code == 0 and "Phase-Connected=L2: RebootRequired [verified]" in out

    # The reboot's snapshot is taken once the station is back: wait for it, not a moment. It is
    # the boot's read, or the reconnect's when the BootNotification came after the post-connect
    # pause (a loaded machine), which the boot's read then only confirms (same values).
    async with asyncio.timeout(60):
        while True:
            code, out, _ = await csms(capsys, cs, "config", "snapshots", sid)
            assert code == 0
            latest = await cs.config.store.latest_snapshot(sid)
            if latest is not None and latest.id > before_reboot.id:
                break
            await asyncio.sleep(0.1)
    assert latest.reason in ("boot", "connect") and latest.values["Phase-Connected"] == "L2"
    assert f"{latest.id}" in out and latest.reason in out
    station.config.set_internal("Station-MaxCurrent", "25.0")
    await csms(capsys, cs, "config", "get", sid, "--refresh")
    code, out, _ = await csms(capsys, cs, "config", "diff", sid)
    assert code == 0 and "~ Station-MaxCurrent: 32.0 → 25.0" in out
    code, out, _ = await csms(capsys, cs, "config", "changes", sid)
    assert code == 0 and "HeartbeatInterval" in out and "Phase-Connected" in out
    code, out, _ = await csms(capsys, cs, "config", "catalog")
    assert code == 0 and "SCN-AlternatingPeriod" in out and "60–36000 s" in out

    code, out, _ = await csms(capsys, cs, "reset", sid, "--hard")
    assert code == 0 and out.strip() == f"{sid}: Hard reset Accepted"
    code, _, err = await csms(capsys, cs, "config", "get", "NOPE")
    assert "404: station NOPE not found" in one_line_error(code, err)

    await station.wait_for(lambda: station.resets == ["Soft", "Hard"])
    await station.wait_booted()
    code, out, _ = await csms(
        capsys, cs, "license", sid, make_license_key(FEATURE_SCN), "--reboot", "now", "--wait"
    )
    assert code == 0 and out.strip().endswith(
        f"{sid}: unlocked Smart Charging Network, Standard Load Balancing, Active Load Balancing"
    )
    code, out, _ = await csms(capsys, cs, "license", sid)
    assert code == 0 and "0x00000007" in out
    code, _, err = await csms(capsys, cs, "license", sid, "12.34")
    assert "six groups of 4 hex digits" in one_line_error(code, err)

    await station.stop()
    code, _, err = await csms(capsys, cs, "reset", sid)
    assert f"409: station {sid} is offline" in one_line_error(code, err)


async def test_scn_commands(
    central_system: CentralSystem,
    sim_stations: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    cs = central_system
    cs.config.boot_delay_s = 0.05
    for sockets in (1, 2, 1):
        (station,) = await sim_stations(
            1, cs.ocpp_url, prefix="ALF-", sockets=sockets, unlocked_features=FEATURE_SCN, **REBOOT
        )
        await wait_snapshot(cs, station.station_id)

    code, out, _ = await csms(capsys, cs, "scn", "plan", str(EXAMPLE))
    assert code == 0
    assert "SCN GARAGE: 3 stations, 4 sockets" in out
    assert "ALF-0002 (socket ids 1, 2)" in out and "SCN-SocketCount: 1 → 4  (reboot)" in out

    code, out, _ = await csms(capsys, cs, "scn", "apply", str(EXAMPLE))
    assert code == 0 and "apply job 1 done" in out and out.count(": consistent") == 3
    code, out, _ = await csms(capsys, cs, "scn", "apply", str(EXAMPLE))
    assert code == 0 and "(0 key changes" in out

    yaml_plan = tmp_path / "bad.yaml"
    yaml_plan.write_text(
        "network: {name: bad-name!, total_static_current: 32}\nstations: [{id: ALF-0001}]\n"
    )
    code, out, err = await csms(capsys, cs, "scn", "plan", str(yaml_plan))
    line = one_line_error(code, err)
    assert "only A-Z and 0-9" in line and "at least 2 stations" in line
    code, _, err = await csms(capsys, cs, "scn", "apply", str(yaml_plan))
    assert "422: plan refused" in one_line_error(code, err)


def test_the_parser_can_be_built_again_and_again() -> None:
    """Command groups (`csms sim …`) were remembered by `id()` of an argparse object: once a
    built parser was freed, a new one could get the same id and the old group, and the next
    command added to it clashed ("conflicting subparser: meter") — a flaky failure of this file."""
    import gc

    from csms.cli import build_parser

    # A dozen rounds: with a collection after each, a freed parser's id comes back within a few
    # (each round builds every command group, about a second now that the CLI has ~40 commands).
    for _ in range(12):
        parser = build_parser()
        assert parser.parse_args(["sim", "meter", "--port", "1502"]).command == "sim"
        del parser
        gc.collect()
