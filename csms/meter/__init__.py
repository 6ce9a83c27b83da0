"""Grid meter inputs: Modbus TCP (presets and custom maps), DSMR P1 over TCP, DSMR-reader MQTT.

The central system runs one `MeterPoller` per site; it delivers validated `MeterReading`s and keeps
a `MeterHealth` (ok / stale / lost). See docs/meters.md.
"""

from csms.meter.config import CustomMapSettings, MeterSettings, RegisterSettings
from csms.meter.health import MeterHealth, MeterState
from csms.meter.modbus import MeterReadError, MeterUnreachable, ModbusMeter, read_once
from csms.meter.poller import MeterPoller
from csms.meter.reading import InvalidReading, MeterReading, make_reading
from csms.meter.registers import PRESETS, RegisterMap, RegisterSpec

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
