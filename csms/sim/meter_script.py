"""The simulated grid meter's script: household load, PV production and outages over time.

Pure: a timeline of steps at offsets (seconds since the simulator started). Each quantity keeps its
last value until a later step changes it; a step added "now" (e.g. by `set_pv`) simply joins the
timeline, so later scripted steps still apply.

File format (TOML, or JSON with the same keys)::

    household_a = [10, 8, 12]     # per phase, or one number for all three
    pv_a = 0
    [[steps]]
    at_s = 30
    pv_a = [16, 16, 16]
    [[steps]]
    at_s = 60
    outage = "stop"               # stop | silent | error | restore
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Triple = tuple[float, float, float]
# stop: the TCP server is closed (connection refused); silent: connections are accepted but no
# request is answered; error: every request gets "gateway target failed to respond".
OutageMode = Literal["stop", "silent", "error"]
OUTAGE_MODES: tuple[OutageMode, ...] = ("stop", "silent", "error")


def triple(value: float | Sequence[float]) -> Triple:
    """One number for all three phases, or exactly three numbers."""
    if isinstance(value, int | float):
        return (float(value), float(value), float(value))
    values = [float(v) for v in value]
    if len(values) != 3:
        raise ValueError(f"expected 1 or 3 values, got {len(values)}")
    return (values[0], values[1], values[2])


@dataclass(frozen=True)
class ScriptStep:
    """A change at `at_s`; None leaves a quantity as it was. `outage="restore"` ends an outage."""

    at_s: float
    household_a: Triple | None = None
    pv_a: Triple | None = None
    outage: OutageMode | Literal["restore"] | None = None


class LoadScript:
    """Household and PV per-phase currents and outages as a function of elapsed time."""

    def __init__(
        self,
        household_a: float | Sequence[float] = 0.0,
        pv_a: float | Sequence[float] = 0.0,
        steps: Sequence[ScriptStep] = (),
    ) -> None:
        self._steps: list[ScriptStep] = [
            ScriptStep(0.0, household_a=triple(household_a), pv_a=triple(pv_a))
        ]
        for step in steps:
            self.add(step)

    def add(self, step: ScriptStep) -> None:
        """Insert a step; among steps at the same time, the one added last wins."""
        step = ScriptStep(
            float(step.at_s),
            None if step.household_a is None else triple(step.household_a),
            None if step.pv_a is None else triple(step.pv_a),
            step.outage,
        )
        index = len(self._steps)
        while index > 0 and self._steps[index - 1].at_s > step.at_s:
            index -= 1
        self._steps.insert(index, step)

    def _last(self, field: str, elapsed: float) -> Any:
        value = None
        for step in self._steps:
            if step.at_s > elapsed:
                break
            if getattr(step, field) is not None:
                value = getattr(step, field)
        return value

    def household_at(self, elapsed: float) -> Triple:
        """Household load per phase (A) at `elapsed` seconds."""
        value: Triple = self._last("household_a", elapsed)
        return value

    def pv_at(self, elapsed: float) -> Triple:
        """PV production per phase (A, positive) at `elapsed` seconds."""
        value: Triple = self._last("pv_a", elapsed)
        return value

    def outage_at(self, elapsed: float) -> OutageMode | None:
        """The outage in force at `elapsed` seconds, if any."""
        value = self._last("outage", elapsed)
        return None if value in (None, "restore") else value

    def outage_times(self) -> list[float]:
        """Times at which a scripted outage starts or ends (for the simulator's timer)."""
        return sorted({s.at_s for s in self._steps if s.outage is not None})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadScript:
        """Build from the file format's dict; raises ValueError naming the bad key."""
        try:
            parsed = _ScriptFile.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "script"
            raise ValueError(f"{where}: {first['msg']}") from None
        return cls(
            parsed.household_a,
            parsed.pv_a,
            [
                ScriptStep(
                    s.at_s,
                    None if s.household_a is None else triple(s.household_a),
                    None if s.pv_a is None else triple(s.pv_a),
                    s.outage,
                )
                for s in parsed.steps
            ],
        )

    @classmethod
    def load(cls, path: Path | str) -> LoadScript:
        """Read a TOML (or `.json`) script file; raises ValueError with the file name."""
        path = Path(path)
        try:
            text = path.read_bytes()
            data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text.decode())
        except FileNotFoundError:
            raise ValueError(f"script {path} not found") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"script {path} cannot be parsed: {exc}") from None
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"script {path}: {exc}") from None


Amps = float | list[float]


def _phases(value: Amps | None) -> Amps | None:
    if value is not None:
        triple(value)
    return value


class _StepFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at_s: float = Field(ge=0)
    household_a: Amps | None = None
    pv_a: Amps | None = None
    outage: OutageMode | Literal["restore"] | None = None

    _check = field_validator("household_a", "pv_a")(_phases)


class _ScriptFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    household_a: Amps = 0.0
    pv_a: Amps = 0.0
    steps: list[_StepFile] = Field(default_factory=list)

    _check = field_validator("household_a", "pv_a")(_phases)
