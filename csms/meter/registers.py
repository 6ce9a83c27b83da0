"""Modbus register maps of grid meters: one data table shared by the reader and the simulator.

Pure code (no I/O): what to read, how to decode it and how to encode it. Vendor differences are
rows in `PRESETS`, not branches. Addresses are 0-based protocol addresses (what goes on the wire).
Facts: `/work/shared/reference/grid-meters.md`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

DataType = Literal["u16", "s16", "u32", "s32", "u64", "s64", "f32", "f64"]
WordOrder = Literal["high-first", "low-first"]
FunctionCode = Literal[3, 4]

DATA_TYPES: tuple[DataType, ...] = ("u16", "s16", "u32", "s32", "u64", "s64", "f32", "f64")

# Registers per value; pymodbus (which converts) is imported on first use, not by the settings.
_REGISTERS = {"u16": 1, "s16": 1, "u32": 2, "s32": 2, "u64": 4, "s64": 4, "f32": 2, "f64": 4}


def _pymodbus(data_type: DataType) -> tuple[Any, Any]:
    """pymodbus's register converter and its name for `data_type`."""
    from pymodbus.client.mixin import ModbusClientMixin

    return ModbusClientMixin, getattr(ModbusClientMixin.DATATYPE, _PYMODBUS_NAME[data_type])


_PYMODBUS_NAME = {
    "u16": "UINT16",
    "s16": "INT16",
    "u32": "UINT32",
    "s32": "INT32",
    "u64": "UINT64",
    "s64": "INT64",
    "f32": "FLOAT32",
    "f64": "FLOAT64",
}
_WORD_ORDER: dict[str, Literal["big", "little"]] = {"high-first": "big", "low-first": "little"}
_INT_BITS = {"u16": 16, "s16": 16, "u32": 32, "s32": 32, "u64": 64, "s64": 64}

# Largest number of registers merged into one request (the Modbus limit is 125).
MAX_REGISTERS_PER_REQUEST = 120


@dataclass(frozen=True)
class RegisterSpec:
    """One value in the meter: where it is, how it is encoded, and its scale to SI units.

    The physical value is `raw * scale` (e.g. a current in mA has scale 0.001, a power in 10 W
    units has scale 10, a power in kW has scale 1000).
    """

    address: int
    function_code: FunctionCode
    data_type: DataType
    scale: float = 1.0

    @property
    def count(self) -> int:
        """Number of 16-bit registers the value occupies."""
        return _REGISTERS[self.data_type]

    @property
    def signed(self) -> bool:
        """True when the encoding can carry a negative value."""
        return not self.data_type.startswith("u")


Triple = tuple[RegisterSpec, RegisterSpec, RegisterSpec]


@dataclass(frozen=True)
class RegisterMap:
    """Where a meter keeps per-phase current (and optionally power and voltage).

    Sign rule: with per-phase power registers, the current's direction comes from the power's sign
    (meters report current as a magnitude); without them a signed current is taken as is, and an
    unsigned one is only accepted with `magnitude_only` (such a meter cannot show export).
    """

    name: str
    current: Triple
    power: Triple | None = None
    voltage: Triple | None = None
    word_order: WordOrder = "high-first"
    magnitude_only: bool = False
    default_unit: int = 1
    description: str = ""

    def specs(self) -> list[RegisterSpec]:
        """Every register the map reads."""
        out = list(self.current)
        for group in (self.power, self.voltage):
            if group is not None:
                out.extend(group)
        return out


def _scaled(raw: float, scale: float) -> float:
    # Divide by an integral inverse (1000 for mA): 12345 mA gives exactly 12.345, not 12.3450000001.
    if 0 < abs(scale) < 1:
        inverse = 1 / scale
        if abs(inverse - round(inverse)) < 1e-9:
            return raw / round(inverse)
    return raw * scale


def decode_value(spec: RegisterSpec, registers: Sequence[int], word_order: WordOrder) -> float:
    """Decode one value from exactly `spec.count` registers (one at a time: pymodbus #2675)."""
    if len(registers) != spec.count:
        raise ValueError(f"{spec.data_type} needs {spec.count} registers, got {len(registers)}")
    mixin, data_type = _pymodbus(spec.data_type)
    raw = mixin.convert_from_registers(
        list(registers),
        data_type=data_type,
        word_order=_WORD_ORDER[word_order],
    )
    assert isinstance(raw, int | float)
    if spec.data_type == "f32":
        # float32 carries ~7 significant digits; dropping the binary noise beyond them makes
        # 2.415 kW read as 2415 W rather than 2414.9999618530273 W.
        raw = float(f"{raw:.7g}")
    return _scaled(float(raw), spec.scale)


def encode_value(spec: RegisterSpec, value: float, word_order: WordOrder) -> list[int]:
    """Encode a physical value into registers (the simulator's side); integers saturate."""
    raw = value / spec.scale
    if spec.data_type.startswith("f"):
        number: int | float = raw
    else:
        bits = _INT_BITS[spec.data_type]
        low, high = (
            (0, 2**bits - 1) if not spec.signed else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        )
        number = min(max(round(raw), low), high) if math.isfinite(raw) else 0
    mixin, data_type = _pymodbus(spec.data_type)
    registers: list[int] = mixin.convert_to_registers(
        number, data_type=data_type, word_order=_WORD_ORDER[word_order]
    )
    return registers


@dataclass(frozen=True)
class ReadRequest:
    """One Modbus read: function code, first address, register count."""

    function_code: FunctionCode
    address: int
    count: int


def plan_reads(specs: Iterable[RegisterSpec]) -> list[ReadRequest]:
    """Merge values that sit back to back into one request each.

    Only strictly contiguous registers are merged: many meters answer a read that spans an
    undefined register with ILLEGAL ADDRESS, so gaps are never bridged.
    """
    requests: list[ReadRequest] = []
    for spec in sorted(set(specs), key=lambda s: (s.function_code, s.address)):
        last = requests[-1] if requests else None
        if (
            last is not None
            and last.function_code == spec.function_code
            and last.address + last.count == spec.address
            and last.count + spec.count <= MAX_REGISTERS_PER_REQUEST
        ):
            requests[-1] = ReadRequest(last.function_code, last.address, last.count + spec.count)
        elif (
            last is not None
            and last.function_code == spec.function_code
            and (spec.address < last.address + last.count)
        ):
            raise ValueError(f"register {spec.address} overlaps another value in the map")
        else:
            requests.append(ReadRequest(spec.function_code, spec.address, spec.count))
    return requests


def extract(
    spec: RegisterSpec, blocks: Mapping[ReadRequest, Sequence[int]], word_order: WordOrder
) -> float:
    """Find `spec` in the answered requests and decode it."""
    for request, registers in blocks.items():
        if (
            request.function_code == spec.function_code
            and request.address <= spec.address
            and spec.address + spec.count <= request.address + request.count
        ):
            offset = spec.address - request.address
            return decode_value(spec, registers[offset : offset + spec.count], word_order)
    raise KeyError(f"register {spec.address} (FC{spec.function_code}) was not read")


def signed_currents(
    register_map: RegisterMap, current: Sequence[float], power: Sequence[float] | None
) -> tuple[float, float, float]:
    """Apply the map's sign rule: direction from per-phase power when the map has it."""
    if power is None:
        return (current[0], current[1], current[2])
    signed = [-abs(i) if p < 0 else abs(i) for i, p in zip(current, power, strict=True)]
    return (signed[0], signed[1], signed[2])


def _triple(fc: FunctionCode, addresses: Sequence[int], dt: DataType, scale: float) -> Triple:
    a, b, c = addresses
    return (
        RegisterSpec(a, fc, dt, scale),
        RegisterSpec(b, fc, dt, scale),
        RegisterSpec(c, fc, dt, scale),
    )


_SOCOMEC = RegisterMap(
    name="socomec-e27",
    description="Socomec Countis E27/E28 (Alfen's default meter)",
    current=_triple(3, (0xC560, 0xC562, 0xC564), "u32", 0.001),
    power=_triple(3, (0xC570, 0xC572, 0xC574), "s32", 10.0),
    voltage=_triple(3, (0xC558, 0xC55A, 0xC55C), "u32", 0.01),
    default_unit=5,
)
_SDM630 = RegisterMap(
    name="eastron-sdm630",
    description="Eastron SDM630 behind a Modbus TCP gateway",
    current=_triple(4, (0x0006, 0x0008, 0x000A), "f32", 1.0),
    power=_triple(4, (0x000C, 0x000E, 0x0010), "f32", 1.0),
)
_EM24 = RegisterMap(
    name="carlo-gavazzi-em24",
    description="Carlo Gavazzi EM24 / EM340 / ET340 (int32, low word first)",
    current=_triple(4, (0x0C, 0x0E, 0x10), "s32", 0.001),
    power=_triple(4, (0x12, 0x14, 0x16), "s32", 0.1),
    word_order="low-first",
)
_ABB = RegisterMap(
    name="abb-b23",
    description="ABB B23/B24",
    current=_triple(3, (0x5B0C, 0x5B0E, 0x5B10), "u32", 0.01),
    power=_triple(3, (0x5B16, 0x5B18, 0x5B1A), "s32", 0.01),
)
_JANITZA = RegisterMap(
    name="janitza-umg",
    description="Janitza UMG",
    current=_triple(3, (19012, 19014, 19016), "f32", 1.0),
    power=_triple(3, (19020, 19022, 19024), "f32", 1.0),
)
_PAC2200 = RegisterMap(
    name="siemens-pac2200",
    description="Siemens PAC2200",
    current=_triple(4, (13, 15, 17), "f32", 1.0),
    power=_triple(4, (25, 27, 29), "f32", 1.0),
)
_IEM3000 = RegisterMap(
    name="schneider-iem3xxx",
    description="Schneider iEM3xxx (power registers in kW)",
    current=_triple(3, (2999, 3001, 3003), "f32", 1.0),
    power=_triple(3, (3053, 3055, 3057), "f32", 1000.0),
)

# Model name → map. Aliases point at the same row.
PRESETS: dict[str, RegisterMap] = {
    "socomec-e27": _SOCOMEC,
    "socomec-e28": _SOCOMEC,
    "eastron-sdm630": _SDM630,
    "carlo-gavazzi-em24": _EM24,
    "carlo-gavazzi-em340": _EM24,
    "carlo-gavazzi-et340": _EM24,
    "abb-b23": _ABB,
    "abb-b24": _ABB,
    "janitza-umg": _JANITZA,
    "siemens-pac2200": _PAC2200,
    "schneider-iem3xxx": _IEM3000,
}

# One name per distinct map (for tests, docs and `--help`).
PRIMARY_MODELS: tuple[str, ...] = (
    "socomec-e27",
    "eastron-sdm630",
    "carlo-gavazzi-em24",
    "abb-b23",
    "janitza-umg",
    "siemens-pac2200",
    "schneider-iem3xxx",
)
