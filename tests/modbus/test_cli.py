"""`csms modbus read` and `csms sim stations --modbus-port-base` as a user runs them."""

from __future__ import annotations

import asyncio
import json
import socket
import sys

import pytest

from csms.cli import main
from csms.modbus.client import AlfenModbus, ModbusUnreachable
from tests.modbus.conftest import SlaveFactory
from tests.support.waiting import eventually

CSMS = [sys.executable, "-m", "csms.cli"]


async def run_cli(*argv: str) -> int:
    # In a thread: the CLI runs its own event loop while the simulator serves on this one.
    return await asyncio.to_thread(main, list(argv))


async def test_read_prints_identity_and_every_socket(
    make_slave: SlaveFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    slave = await make_slave(sockets=2)
    code = await run_cli("modbus", "read", "--host", "127.0.0.1", "--port", str(slave.port))
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("ALF-0001  Alfen NG9xx  firmware 5.8.1-4123")
    assert "socket 1: Mode 3 A (available)" in out
    assert "socket 2: Mode 3 A (available)" in out
    assert "  safe_current_a          6 A" in out


async def test_read_json(make_slave: SlaveFactory, capsys: pytest.CaptureFixture[str]) -> None:
    slave = await make_slave(sockets=1)
    code = await run_cli(
        "modbus", "read", "--host", "127.0.0.1", "--port", str(slave.port), "--json"
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["station"]["name"] == "ALF-0001"
    assert data["station"]["sockets"] == 1.0
    assert [s["socket"] for s in data["sockets"]] == [1]
    assert data["sockets"][0]["mode3_state"] == "A"


async def test_unreachable_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = await run_cli("modbus", "read", "--host", "127.0.0.1", "--port", str(port),
                         "--timeout", "1")  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith(f"csms modbus read: 127.0.0.1:{port}: cannot connect")


async def test_sim_stations_serve_modbus_slaves_from_the_port_base() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        *CSMS, "sim", "stations", "--url", "ws://127.0.0.1:9/ocpp", "--count", "2",
        "--modbus-port-base", str(base),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        names = []
        for port in (base, base + 1):
            modbus = AlfenModbus("127.0.0.1", port, timeout_s=2.0)
            ok = False
            for _ in range(300):
                try:
                    await modbus.connect()
                    ok = True
                    break
                except ModbusUnreachable:
                    await asyncio.sleep(0.1)
            assert ok, f"no Modbus slave on {port}"
            station = await modbus.read_station()
            names.append(station.text("name"))
            await modbus.write_max_current(1, 10.0)  # EMS mode is on: the write is taken
            modbus.close()
        assert names == ["ALF-0001", "ALF-0002"]
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 30)
    await eventually(lambda: proc.returncode is not None)
