"""The Alfen Modbus slave register map as data, and its decoding (pure: no I/O).

Facts: `/work/shared/reference/alfen-modbus-slave.md` (Alfen's "Implementation of Modbus Slave
TCP/IP for Alfen NG9xx platform"). Unit 200 is the station, units 1 and 2 its sockets. Values are
big-endian, 32/64-bit values high word first, addresses as written. Reserved registers read 0xFFFF,
which is why a read may span a gap: the station answers it, and `plan_reads` needs only one request
per block. A value that decodes to NaN/Inf, or an integer that is all ones (reserved), is rejected
(`None` plus a note) rather than passed on.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

ValueType = Literal["string", "u16", "u32", "u64", "f32", "f64"]

STATION_UNIT = 200
SOCKET_UNITS = (1, 2)

# Largest request (the Modbus limit is 125 registers per read).
MAX_REGISTERS_PER_REQUEST = 125

_COUNT = {"u16": 1, "u32": 2, "u64": 4, "f32": 2, "f64": 4}


@dataclass(frozen=True, slots=True)
class Field:
    """One value of the map: where it is, how it is encoded, and its scale to SI units."""

    name: str
    address: int
    type: ValueType
    count: int = 0  # registers; 0 = from the type (strings must give it)
    scale: float = 1.0
    unit: str = ""

    @property
    def size(self) -> int:
        """Number of 16-bit registers the value occupies."""
        return self.count or _COUNT[self.type]


@dataclass(frozen=True, slots=True)
class Block:
    """Registers read in one request (FC3)."""

    address: int
    count: int


def _f(name: str, address: int, type_: ValueType, unit: str = "", count: int = 0) -> Field:
    return Field(name, address, type_, count=count, unit=unit)


STATION_FIELDS: tuple[Field, ...] = (
    _f("name", 100, "string", count=17),
    _f("manufacturer", 117, "string", count=5),
    _f("firmware", 123, "string", count=17),
    _f("platform", 140, "string", count=17),
    _f("serial", 157, "string", count=11),
    Field("uptime_s", 174, "u64", scale=0.001, unit="s"),
    _f("active_max_current_a", 1100, "f32", "A"),
    _f("temperature_c", 1102, "f32", "°C"),
    _f("ocpp_state", 1104, "u16"),
    _f("sockets", 1105, "u16"),
)

SCN_FIELDS: tuple[Field, ...] = (
    _f("scn_name", 1400, "string", count=4),
    _f("scn_sockets", 1404, "u16"),
    _f("scn_consumption_l1_a", 1405, "f32", "A"),
    _f("scn_consumption_l2_a", 1407, "f32", "A"),
    _f("scn_consumption_l3_a", 1409, "f32", "A"),
    _f("scn_actual_max_l1_a", 1411, "f32", "A"),
    _f("scn_actual_max_l2_a", 1413, "f32", "A"),
    _f("scn_actual_max_l3_a", 1415, "f32", "A"),
    _f("scn_max_l1_a", 1417, "f32", "A"),
    _f("scn_max_l2_a", 1419, "f32", "A"),
    _f("scn_max_l3_a", 1421, "f32", "A"),
    _f("scn_fallback_l1_s", 1423, "u32", "s"),
    _f("scn_fallback_l2_s", 1425, "u32", "s"),
    _f("scn_fallback_l3_s", 1427, "u32", "s"),
    _f("scn_safe_current_a", 1429, "f32", "A"),
    _f("scn_modbus_max_enabled", 1431, "u16"),
)

SOCKET_FIELDS: tuple[Field, ...] = (
    _f("meter_state", 300, "u16"),
    _f("voltage_l1_v", 306, "f32", "V"),
    _f("voltage_l2_v", 308, "f32", "V"),
    _f("voltage_l3_v", 310, "f32", "V"),
    _f("current_l1_a", 320, "f32", "A"),
    _f("current_l2_a", 322, "f32", "A"),
    _f("current_l3_a", 324, "f32", "A"),
    _f("power_l1_w", 338, "f32", "W"),
    _f("power_l2_w", 340, "f32", "W"),
    _f("power_l3_w", 342, "f32", "W"),
    _f("power_w", 344, "f32", "W"),
    _f("energy_wh", 374, "f64", "Wh"),
    _f("availability", 1200, "u16"),
    _f("mode3_state", 1201, "string", count=5),
    _f("applied_max_current_a", 1206, "f32", "A"),
    _f("validity_left_s", 1208, "u32", "s"),
    _f("modbus_max_current_a", 1210, "f32", "A"),
    _f("safe_current_a", 1212, "f32", "A"),
    _f("setpoint_accounted", 1214, "u16"),
    _f("phases", 1215, "u16"),
)

# Writable registers.
MAX_CURRENT_REGISTER = 1210
PHASES_REGISTER = 1215

# Mode 3 state → what integrations show.
MODE3_STATUS = {
    "A": "available",
    "E": "available",
    "B1": "connected",
    "B2": "connected",
    "C1": "connected",
    "D1": "connected",
    "C2": "charging",
    "D2": "charging",
    "F": "error",
}


def plan_reads(fields: Iterable[Field], max_gap: int = 40) -> list[Block]:
    """Cover the fields with as few reads as possible.

    Gaps of up to `max_gap` registers are bridged: the station answers reserved registers with
    0xFFFF, so one read across them costs less than two round trips on a link that serves one
    master.
    """
    blocks: list[Block] = []
    for field in sorted(fields, key=lambda f: f.address):
        end = field.address + field.size
        last = blocks[-1] if blocks else None
        if (
            last is not None
            and field.address - (last.address + last.count) <= max_gap
            and end - last.address <= MAX_REGISTERS_PER_REQUEST
        ):
            blocks[-1] = Block(last.address, max(last.count, end - last.address))
        else:
            blocks.append(Block(field.address, field.size))
    return blocks


STATION_BLOCKS = tuple(plan_reads(STATION_FIELDS))
SCN_BLOCKS = tuple(plan_reads(SCN_FIELDS))
SOCKET_BLOCKS = tuple(plan_reads(SOCKET_FIELDS))


def _pack(registers: Sequence[int]) -> bytes:
    return b"".join(int(r).to_bytes(2, "big") for r in registers)


def decode(field: Field, registers: Sequence[int]) -> float | str | None:
    """Decode one value from exactly `field.size` registers; None when reserved or not finite."""
    if len(registers) != field.size:
        raise ValueError(f"{field.name} needs {field.size} registers, got {len(registers)}")
    data = _pack(registers)
    if field.type == "string":
        if all(r == 0xFFFF for r in registers):
            return None
        return data.split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()
    if field.type in ("f32", "f64"):
        number = float(struct.unpack(">f" if field.type == "f32" else ">d", data)[0])
        if not math.isfinite(number):
            return None
        if field.type == "f32":
            number = float(f"{number:.7g}")  # drop float32's binary noise: 230.1, not 230.0999
        return number * field.scale
    raw = int.from_bytes(data, "big")
    if raw == (1 << (16 * field.size)) - 1:
        return None  # reserved / not available
    return raw * field.scale if field.scale != 1.0 else float(raw)


def encode(field: Field, value: float | str) -> list[int]:
    """Registers for a value (the simulator's side, and writes)."""
    if field.type == "string":
        raw = str(value).encode("ascii")[: 2 * field.size].ljust(2 * field.size, b"\x00")
    elif field.type in ("f32", "f64"):
        raw = struct.pack(">f" if field.type == "f32" else ">d", float(value) / field.scale)
    else:
        number = round(float(value) / field.scale)
        number = min(max(number, 0), (1 << (16 * field.size)) - 1)
        raw = number.to_bytes(2 * field.size, "big")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def float32_registers(value: float) -> list[int]:
    """A float32 as two registers, high word first (16 A → [0x4180, 0x0000])."""
    raw = struct.pack(">f", value)
    return [int.from_bytes(raw[0:2], "big"), int.from_bytes(raw[2:4], "big")]


@dataclass(frozen=True, slots=True)
class Decoded:
    """The values of one unit, by field name; `rejected` names values that were reserved/NaN."""

    values: Mapping[str, float | str | None]
    rejected: tuple[str, ...]

    def number(self, name: str) -> float | None:
        """A numeric value, or None when missing or rejected."""
        value = self.values.get(name)
        return value if isinstance(value, float) else None

    def text(self, name: str) -> str | None:
        """A string value, or None."""
        value = self.values.get(name)
        return value if isinstance(value, str) else None


def decode_blocks(fields: Iterable[Field], blocks: Mapping[Block, Sequence[int]]) -> Decoded:
    """Decode every field from the answered blocks."""
    values: dict[str, float | str | None] = {}
    rejected: list[str] = []
    for field in fields:
        for block, registers in blocks.items():
            offset = field.address - block.address
            if offset >= 0 and offset + field.size <= block.count:
                value = decode(field, registers[offset : offset + field.size])
                values[field.name] = value
                if value is None:
                    rejected.append(field.name)
                break
        else:
            raise KeyError(f"register {field.address} ({field.name}) was not read")
    return Decoded(values, tuple(rejected))
