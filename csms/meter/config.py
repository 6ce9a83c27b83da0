"""Meter settings (the `[sites.meter]` table); validated at start-up.

Owned by the meter input module; `csms.settings` embeds `MeterSettings` in each site. Every check
raises on the field it concerns, so `load_settings` names the setting in its message (e.g.
`setting sites[0].meter.model: ...`).
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from csms.meter.registers import (
    PRESETS,
    DataType,
    FunctionCode,
    RegisterMap,
    RegisterSpec,
    WordOrder,
    plan_reads,
)

MeterType = Literal["modbus", "simulated", "dsmr-tcp", "dsmr-mqtt", "none"]
CUSTOM = "custom"
DEFAULT_PORTS = {"modbus": 502, "simulated": 502, "dsmr-mqtt": 1883}


def known_models() -> str:
    """The accepted `model` values, for error messages and help texts."""
    return ", ".join([*sorted(PRESETS), CUSTOM])


class RegisterSettings(BaseModel):
    """One value of a custom map, with the fields Alfen's custom register mapping asks for."""

    # `register` is the key users write; the attribute is `address` (pydantic's BaseModel
    # already has a `register` attribute).
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    address: int = Field(alias="register", ge=0, le=65535, description="0-based protocol address")
    function_code: FunctionCode = 3
    data_type: DataType = "u32"
    scale: float = 1.0

    @field_validator("scale")
    @classmethod
    def _usable_scale(cls, value: float) -> float:
        if not math.isfinite(value) or value == 0:
            raise ValueError("must be a finite, non-zero number")
        return value

    def spec(self) -> RegisterSpec:
        """The register as the reader's data type."""
        return RegisterSpec(self.address, self.function_code, self.data_type, self.scale)


_PHASES = ("l1", "l2", "l3")


class CustomMapSettings(BaseModel):
    """A custom register map (`[sites.meter.custom]`, or the file given to `--map`).

    Per phase a current register is required; power registers (all three) give the current's
    direction when the current is unsigned; voltage registers are optional.
    """

    model_config = ConfigDict(extra="forbid")

    word_order: WordOrder = "high-first"
    current_l1: RegisterSettings
    current_l2: RegisterSettings
    current_l3: RegisterSettings
    power_l1: RegisterSettings | None = None
    power_l2: RegisterSettings | None = None
    power_l3: RegisterSettings | None = None
    voltage_l1: RegisterSettings | None = None
    voltage_l2: RegisterSettings | None = None
    voltage_l3: RegisterSettings | None = None
    magnitude_only: bool = Field(
        default=False,
        description="accept unsigned currents without power registers (export reads as import)",
    )

    @model_validator(mode="after")
    def _complete(self) -> CustomMapSettings:
        for kind in ("power", "voltage"):
            given = [getattr(self, f"{kind}_{p}") is not None for p in _PHASES]
            if any(given) and not all(given):
                missing = [f"{kind}_{p}" for p, ok in zip(_PHASES, given, strict=True) if not ok]
                raise ValueError(f"{', '.join(missing)} missing: give {kind} for all three phases")
        currents = [getattr(self, f"current_{p}") for p in _PHASES]
        if (
            self.power_l1 is None
            and not all(c.spec().signed for c in currents)
            and not self.magnitude_only
        ):
            raise ValueError(
                "current registers are unsigned and no power_l1..l3 registers give the direction; "
                "add power registers or set magnitude_only = true (export then counts as import)"
            )
        plan_reads(self.register_map().specs())  # raises on overlapping registers
        return self

    def _triple(self, kind: str) -> tuple[RegisterSpec, RegisterSpec, RegisterSpec] | None:
        values = [getattr(self, f"{kind}_{p}") for p in _PHASES]
        if values[0] is None:
            return None
        return (values[0].spec(), values[1].spec(), values[2].spec())

    def register_map(self, default_unit: int = 1) -> RegisterMap:
        """The map as the reader's data type."""
        current = self._triple("current")
        assert current is not None
        return RegisterMap(
            name=CUSTOM,
            description="custom register map",
            current=current,
            power=self._triple("power"),
            voltage=self._triple("voltage"),
            word_order=self.word_order,
            magnitude_only=self.magnitude_only,
            default_unit=default_unit,
        )


def load_custom_map(path: Path | str) -> CustomMapSettings:
    """Read a custom map from a TOML file; raises ValueError naming the file and the bad field."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ValueError(f"map file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"map file {path} is not valid TOML: {exc}") from None
    # Accept either the bare table or a file holding `[custom]` (copied from csms.toml).
    if set(data) == {CUSTOM}:
        data = data[CUSTOM]
    try:
        return CustomMapSettings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "map"
        raise ValueError(f"map file {path}: {where}: {first['msg']}") from None


class MeterSettings(BaseModel):
    """How a site's grid meter is reached."""

    model_config = ConfigDict(extra="forbid")

    type: MeterType = "none"
    host: str = Field(default="127.0.0.1", min_length=1)
    # port and unit default per type / model (filled in by `_defaults`).
    port: int = Field(default=502, ge=1, le=65535)
    unit: int = Field(default=5, ge=0, le=255)
    model: str = "socomec-e27"
    custom: CustomMapSettings | None = None
    poll_interval_s: float = Field(default=1.0, gt=0, le=3600)
    timeout_s: float = Field(default=2.0, gt=0, le=60)
    reconnect_min_s: float = Field(default=1.0, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    # DSMR P1
    dsmr_version: Literal["4", "5", "5B"] = "5"
    stream_idle_s: float = Field(default=30.0, gt=0)
    # DSMR-reader over MQTT
    topic_prefix: str = Field(default="dsmr", min_length=1, pattern=r"^[^#+]+$")
    username: str | None = None
    password: SecretStr | None = None

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        kind = data.get("type", "none")
        if "port" not in data:
            if kind == "dsmr-tcp":
                raise ValueError("port is required for type dsmr-tcp (the P1 adapter's TCP port)")
            if isinstance(kind, str) and kind in DEFAULT_PORTS:
                data["port"] = DEFAULT_PORTS[kind]
        model = data.get("model", "socomec-e27")
        if "unit" not in data and isinstance(model, str) and model in PRESETS:
            data["unit"] = PRESETS[model].default_unit
        return data

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value != CUSTOM and value not in PRESETS:
            raise ValueError(f"unknown meter model {value!r}; known: {known_models()}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MeterSettings:
        if self.model == CUSTOM and self.custom is None:
            raise ValueError("model = 'custom' needs a register map in [sites.meter.custom]")
        if self.model != CUSTOM and self.custom is not None:
            raise ValueError(f"a custom register map is given but model is {self.model!r}")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must not be smaller than reconnect_min_s")
        return self

    def register_map(self) -> RegisterMap:
        """The Modbus register map this meter is read with (a preset or the custom map)."""
        if self.custom is not None:
            return self.custom.register_map(default_unit=self.unit)
        return PRESETS[self.model]

    def describe(self) -> str:
        """A short human name for logs: what is read, and where."""
        if self.type in ("modbus", "simulated"):
            return f"{self.model} unit {self.unit} at {self.host}:{self.port}"
        if self.type == "dsmr-tcp":
            return f"DSMR {self.dsmr_version} P1 at {self.host}:{self.port}"
        if self.type == "dsmr-mqtt":
            return f"DSMR-reader {self.topic_prefix}/# at mqtt://{self.host}:{self.port}"
        return "no meter"
