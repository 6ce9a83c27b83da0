"""A charging profile as the simulated station receives it: the data and its parsing from OCPP JSON.

Pure: no I/O and no clock. `parse_profile` turns a `csChargingProfiles` object into a frozen
`ChargingProfile` or raises `ProfileError` (the station answers Rejected). `ProfileRules` (what
the station accepts) and `Transaction` are the context `csms.sim.smart_charging` decides in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

VOLTAGE_V = 230.0
CHARGE_POINT_MAX = "ChargePointMaxProfile"
TX_DEFAULT = "TxDefaultProfile"
TX = "TxProfile"
PURPOSES = (CHARGE_POINT_MAX, TX_DEFAULT, TX)
KINDS = ("Absolute", "Recurring", "Relative")
RECURRENCY_S = {"Daily": 86400, "Weekly": 7 * 86400}
RATE_UNITS = ("A", "W")


class ProfileError(ValueError):
    """A charging profile is malformed (the station answers Rejected)."""


def parse_time(value: Any) -> float:
    """Epoch seconds from an OCPP date-time string (naive times are UTC) or a datetime."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ProfileError(f"{value!r} is not an ISO 8601 date-time") from None
    else:
        raise ProfileError(f"{value!r} is not a date-time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_time(epoch: float) -> str:
    """OCPP date-time string (UTC, seconds resolution, `Z` suffix)."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    start_period: int
    limit: float
    number_phases: int | None = None


@dataclass(frozen=True, slots=True)
class ChargingSchedule:
    rate_unit: str
    periods: tuple[SchedulePeriod, ...]
    duration: int | None = None
    start_schedule: float | None = None
    min_charging_rate: float | None = None


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    id: int
    connector_id: int
    stack_level: int
    purpose: str
    kind: str
    schedule: ChargingSchedule
    recurrency: str | None = None
    valid_from: float | None = None
    valid_to: float | None = None
    transaction_id: int | None = None
    installed_at: float = 0.0


def _int(data: Mapping[str, Any], key: str, required: bool = True) -> int | None:
    value = data.get(key)
    if value is None:
        if required:
            raise ProfileError(f"{key} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float | str) or hasattr(value, "to_integral_value"):
            number = float(value)
            if number.is_integer():
                return int(number)
        raise ProfileError(f"{key} must be an integer")
    return value


def _number(value: Any, key: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ProfileError(f"{key} must be a number") from None
    if not math.isfinite(number):
        raise ProfileError(f"{key} must be finite")
    return number


def parse_profile(
    connector_id: int, data: Mapping[str, Any], installed_at: float = 0.0
) -> ChargingProfile:
    """A `ChargingProfile` from the OCPP JSON `csChargingProfiles` object (camelCase keys)."""
    if not isinstance(data, Mapping):
        raise ProfileError("csChargingProfiles must be an object")
    purpose = data.get("chargingProfilePurpose")
    if purpose not in PURPOSES:
        raise ProfileError(f"chargingProfilePurpose {purpose!r} is unknown")
    kind = data.get("chargingProfileKind")
    if kind not in KINDS:
        raise ProfileError(f"chargingProfileKind {kind!r} is unknown")
    recurrency = data.get("recurrencyKind")
    if recurrency is not None and recurrency not in RECURRENCY_S:
        raise ProfileError(f"recurrencyKind {recurrency!r} is unknown")
    raw = data.get("chargingSchedule")
    if not isinstance(raw, Mapping):
        raise ProfileError("chargingSchedule is missing")
    unit = raw.get("chargingRateUnit")
    if unit not in RATE_UNITS:
        raise ProfileError(f"chargingRateUnit {unit!r} is unknown")
    raw_periods = raw.get("chargingSchedulePeriod")
    if not isinstance(raw_periods, list) or not raw_periods:
        raise ProfileError("chargingSchedulePeriod needs at least one period")
    periods = []
    for item in raw_periods:
        if not isinstance(item, Mapping):
            raise ProfileError("a chargingSchedulePeriod entry is not an object")
        start = _int(item, "startPeriod")
        assert start is not None
        periods.append(
            SchedulePeriod(
                start_period=start,
                limit=_number(item.get("limit"), "limit"),
                number_phases=_int(item, "numberPhases", required=False),
            )
        )
    start_schedule = raw.get("startSchedule")
    min_rate = raw.get("minChargingRate")
    schedule = ChargingSchedule(
        rate_unit=unit,
        periods=tuple(periods),
        duration=_int(raw, "duration", required=False),
        start_schedule=None if start_schedule is None else parse_time(start_schedule),
        min_charging_rate=None if min_rate is None else _number(min_rate, "minChargingRate"),
    )
    profile_id = _int(data, "chargingProfileId")
    stack_level = _int(data, "stackLevel")
    assert profile_id is not None and stack_level is not None
    valid_from, valid_to = data.get("validFrom"), data.get("validTo")
    return ChargingProfile(
        id=profile_id,
        connector_id=connector_id,
        stack_level=stack_level,
        purpose=purpose,
        kind=kind,
        schedule=schedule,
        recurrency=recurrency,
        valid_from=None if valid_from is None else parse_time(valid_from),
        valid_to=None if valid_to is None else parse_time(valid_to),
        transaction_id=_int(data, "transactionId", required=False),
        installed_at=installed_at,
    )


@dataclass(frozen=True, slots=True)
class ProfileRules:
    """What the station accepts (its smart-charging configuration keys)."""

    connectors: int = 1
    max_stack_level: int = 15
    max_periods: int = 100
    max_installed: int = 45
    allowed_units: frozenset[str] = frozenset({"A"})
    tx_profile_supported: bool = True
    applies_profiles: bool = True

    @property
    def own_unit(self) -> str:
        """The unit the station answers a GetCompositeSchedule without one in."""
        return "A" if "A" in self.allowed_units or not self.allowed_units else "W"


@dataclass(frozen=True, slots=True)
class Transaction:
    transaction_id: int
    started_at: float
