"""Grid meter inputs: Modbus TCP (presets and custom maps), DSMR P1 over TCP, DSMR-reader MQTT.

The central system runs one `MeterPoller` per site; it delivers validated `MeterReading`s and keeps
a `MeterHealth` (ok / stale / lost). See docs/meters.md.

The names below are imported on first use (PEP 562): the settings need only `csms.meter.config`,
and importing the poller here pulled the DSMR and DLMS parsers into every `csms` start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from csms.meter.config import CustomMapSettings, MeterSettings, RegisterSettings
    from csms.meter.health import MeterHealth, MeterState
    from csms.meter.modbus import MeterReadError, MeterUnreachable, ModbusMeter, read_once
    from csms.meter.poller import MeterPoller
    from csms.meter.reading import InvalidReading, MeterReading, make_reading
    from csms.meter.registers import PRESETS, RegisterMap, RegisterSpec

_WHERE = {
    "CustomMapSettings": "config",
    "MeterSettings": "config",
    "RegisterSettings": "config",
    "MeterHealth": "health",
    "MeterState": "health",
    "MeterReadError": "modbus",
    "MeterUnreachable": "modbus",
    "ModbusMeter": "modbus",
    "read_once": "modbus",
    "MeterPoller": "poller",
    "InvalidReading": "reading",
    "MeterReading": "reading",
    "make_reading": "reading",
    "PRESETS": "registers",
    "RegisterMap": "registers",
    "RegisterSpec": "registers",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'csms.meter' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"csms.meter.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "PRESETS",
    "CustomMapSettings",
    "InvalidReading",
    "MeterHealth",
    "MeterPoller",
    "MeterReadError",
    "MeterReading",
    "MeterSettings",
    "MeterState",
    "MeterUnreachable",
    "ModbusMeter",
    "RegisterMap",
    "RegisterSettings",
    "RegisterSpec",
    "make_reading",
    "read_once",
]
