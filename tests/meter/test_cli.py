"""`csms meter read` and `csms sim meter` as a user runs them."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest

from csms.cli import main
from csms.meter.modbus import read_once
from csms.meter.registers import PRESETS

CSMS = [sys.executable, "-m", "csms.cli"]


async def run_cli(*argv: str) -> int:
    # In a thread: the CLI runs its own event loop while the simulator serves on this one.
    return await asyncio.to_thread(main, list(argv))


async def test_read_prints_per_phase_values(meter_sim_factory, capsys) -> None:
    meter = await meter_sim_factory("socomec-e27", household_a=(10.5, 8, 12), pv_a=(0, 0, 20))
    code = await run_cli("meter", "read", "--host", meter.host, "--port", str(meter.port))
    out = capsys.readouterr().out
    assert code == 0
    assert f"socomec-e27 unit 5 at 127.0.0.1:{meter.port}" in out
    current = next(line for line in out.splitlines() if line.startswith("current"))
    assert current.split() == ["current", "10.50", "A", "8.00", "A", "-8.00", "A"]
    assert "voltage" in out and "230.0 V" in out


async def test_read_json(meter_sim_factory, capsys) -> None:
    meter = await meter_sim_factory("eastron-sdm630", household_a=3, pv_a=(0, 5, 0))
    code = await run_cli(
        "meter",
        "read",
        "--host",
        meter.host,
        "--port",
        str(meter.port),
        "--model",
        "eastron-sdm630",
        "--json",
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["current_a"] == [3.0, -2.0, 3.0]
    assert data["power_w"] == [690.0, -460.0, 690.0]
    assert data["model"] == "eastron-sdm630"
    assert data["unit"] == 1


async def test_read_with_a_custom_map_file(meter_sim_factory, tmp_path: Path, capsys) -> None:
    lines = ['word_order = "low-first"']
    for n, base in ((1, 0x0C), (2, 0x0E), (3, 0x10)):
        lines += [
            f"[current_l{n}]",
            f"register = {base}",
            "function_code = 4",
            'data_type = "s32"',
            "scale = 0.001",
        ]
    for n, base in ((1, 0x12), (2, 0x14), (3, 0x16)):
        lines += [
            f"[power_l{n}]",
            f"register = {base}",
            "function_code = 4",
            'data_type = "s32"',
            "scale = 0.1",
        ]
    path = tmp_path / "em24.toml"
    path.write_text("\n".join(lines) + "\n")
    meter = await meter_sim_factory("carlo-gavazzi-em24", household_a=(1, 2, 3), pv_a=(0, 0, 9))
    code = await run_cli(
        "meter",
        "read",
        "--host",
        meter.host,
        "--port",
        str(meter.port),
        "--unit",
        "1",
        "--map",
        str(path),
        "--json",
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["current_a"] == [1.0, 2.0, -6.0]


async def test_unknown_model_is_one_line_exit_2(capsys) -> None:
    code = await run_cli("meter", "read", "--host", "127.0.0.1", "--model", "acme")
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "unknown meter model 'acme'" in err and "socomec-e27" in err


async def test_wrong_unit_is_one_line_exit_1(meter_sim, capsys) -> None:
    code = await run_cli(
        "meter", "read", "--host", meter_sim.host, "--port", str(meter_sim.port), "--unit", "9"
    )
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.splitlines() == [err]
    assert "wrong unit id" in err


async def test_unreachable_meter_one_line_no_traceback(unused_tcp_port) -> None:
    proc = await asyncio.create_subprocess_exec(
        *CSMS,
        "meter",
        "read",
        "--host",
        "127.0.0.1",
        "--port",
        str(unused_tcp_port),
        "--timeout",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    assert out == b""
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("csms meter read: socomec-e27 unit 5 at 127.0.0.1:")
    assert "cannot connect" in lines[0]


async def test_sim_meter_serves_until_interrupted(tmp_path: Path) -> None:
    script = tmp_path / "script.toml"
    script.write_text("household_a = [10, 8, 12]\npv_a = [0, 0, 20]\n")
    proc = await asyncio.create_subprocess_exec(
        *CSMS,
        "sim",
        "meter",
        "--port",
        "0",
        "--model",
        "abb-b23",
        "--script",
        str(script),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line.startswith("simulated abb-b23 meter: modbus tcp 127.0.0.1:")
        port = int(line.split("127.0.0.1:")[1].split()[0])
        reading = await read_once("127.0.0.1", port, 1, PRESETS["abb-b23"])
        assert reading.current_a == (10.0, 8.0, -8.0)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "not a TCP port"),
        (["--port", "0", "--model", "acme"], "unknown meter model"),
        (["--port", "0", "--script", "/nonexistent.toml"], "not found"),
    ],
)
async def test_sim_meter_bad_options(args: list[str], message: str, capsys) -> None:
    code = await run_cli("sim", "meter", *args)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1


async def test_sim_meter_port_in_use(meter_sim, capsys) -> None:
    code = await run_cli("sim", "meter", "--port", str(meter_sim.port))
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert "cannot listen" in err


def test_sim_meter_takes_one_value_for_all_phases_or_three(capsys) -> None:
    """The help says `A[,A,A]`: `--household-a 12` is 12 A on every phase."""
    from csms.cli import build_parser

    args = build_parser().parse_args(
        ["sim", "meter", "--port", "0", "--household-a", "12", "--pv-a", "2.5"]
    )
    assert (args.household_a, args.pv_a) == ((12.0, 12.0, 12.0), (2.5, 2.5, 2.5))
    args = build_parser().parse_args(["sim", "meter", "--port", "0", "--household-a", "1,2,3"])
    assert args.household_a == (1.0, 2.0, 3.0)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sim", "meter", "--port", "0", "--household-a", "1,2"])
    assert "expected 1 or 3 values, got 2" in capsys.readouterr().err


async def test_sim_meter_serves_one_household_value_on_every_phase() -> None:
    proc = await asyncio.create_subprocess_exec(
        *CSMS, "sim", "meter", "--port", "0", "--household-a", "12", "--pv-a", "2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        port = int(line.split("127.0.0.1:")[1].split()[0])
        reading = await read_once("127.0.0.1", port, 5, PRESETS["socomec-e27"])
        assert reading.current_a == (10.0, 10.0, 10.0)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
