"""`csms serve` starts without importing what it does not need at once (no timing here: the
time-to-port figures are in docs/performance.md)."""

from __future__ import annotations

import subprocess
import sys

from csms.cli import QUICK_COMMANDS, build_parser

HEAVY = ("dsmr_parser", "dlms_cosem", "pymodbus", "fastjsonschema", "httpx", "csms.meter.poller")


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_the_settings_import_no_meter_parsers_nor_schemas() -> None:
    loaded = imported_after("import csms.settings")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_central_system_loads_meter_sources_only_for_a_meter() -> None:
    """`csms serve` imports the application; the DSMR parsers and the MQTT client (~0.1 s) are
    imported when a site's meter starts (`MeterPoller.run`)."""
    loaded = imported_after("import csms.cli.serve, csms.app")
    meters = {"dsmr_parser", "dlms_cosem", "aiomqtt", "csms.meter.sources"}
    assert not loaded & meters, sorted(loaded & meters)


def test_serve_builds_only_its_own_parser_and_it_is_the_full_one() -> None:
    loaded = imported_after("from csms.cli import build_parser; build_parser(['csms.cli.serve'])")
    assert "csms.cli.sim_stations" not in loaded and "httpx" not in loaded
    for command, module in QUICK_COMMANDS.items():
        quick = build_parser([module])
        full = build_parser()
        quick_args = vars(quick.parse_args([command, "--ocpp-port", "0"]))
        full_args = vars(full.parse_args([command, "--ocpp-port", "0"]))
        assert quick_args == full_args


def test_validation_compiles_schemas_on_first_use() -> None:
    code = (
        "from csms.ocpp import validation as v; print(len(v._PRECISE), len(v._FAST)); "
        "v.validate_request('Heartbeat', {}); print(len(v._PRECISE), len(v._FAST))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["0", "0", "0", "1"]
