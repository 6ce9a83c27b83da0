"""Pure builders for OCPP 1.6 SetChargingProfile payloads.

Allocation + station capabilities in, plain JSON dicts out (OCPP camelCase), so every rule about
units, stack levels, profile ids, rounding and timestamps is table-tested without a socket:

- unit: Amperes when the station allows `Current`; Watts (A × 230 V × phases) only when it does not;
- stack level: within the station's `ChargeProfileMaxStackLevel` (we take the top of the stack so a
  profile left by another back office at a lower level cannot outvote ours);
- profile ids: stable per connector and purpose, so a new limit replaces the installed profile
  instead of piling up towards `MaxChargingProfilesInstalled`;
- limits: rounded *down* to 0.1 A (the schema's resolution; never round a safety limit up);
- schedules: absolute, starting one minute in the past (station clocks drift), UTC with `Z`;
- fail-safe: TxProfiles (and connector-level TxDefaultProfiles used instead of them) carry a bounded
  validity; when it ends the station falls back to the safe TxDefaultProfile on connector 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

VOLTAGE_V = 230.0
CLOCK_SKEW_S = 60  # schedules start this far in the past so a station whose clock runs ahead
# still finds the first period in force.

TX_PROFILE = "TxProfile"
TX_DEFAULT_PROFILE = "TxDefaultProfile"
CHARGE_POINT_MAX_PROFILE = "ChargePointMaxProfile"

# Stable id blocks per purpose: id = block + connector id (connector 0 = whole station).
_ID_BLOCK = {CHARGE_POINT_MAX_PROFILE: 1000, TX_DEFAULT_PROFILE: 2000, TX_PROFILE: 3000}
# A socket's own safe default (a TxDefaultProfile on the connector, beneath the connector-level
# TxDefaultProfile that stations refusing TxProfile get as their dynamic limit).
SAFE_SOCKET_ID_BLOCK = 2500
# The planner's name for that position (its purpose on the wire is TxDefaultProfile).
SAFE_SOCKET = "SafeSocketDefault"


@dataclass(frozen=True, slots=True)
class ProfileCapabilities:
    """What a station accepts in a charging profile, read from its configuration keys.

    Defaults are the most conservative values any OCPP 1.6 station must accept.
    """

    rate_unit: str = "A"  # "A" or "W"
    max_stack_level: int = 0
    max_periods: int = 1
    max_profiles_installed: int | None = None
    phases: int = 3


def capabilities_from_config(
    config: Mapping[str, str | None], phases: int = 3
) -> ProfileCapabilities:
    """Read `ChargingScheduleAllowedChargingRateUnit`, `ChargeProfileMaxStackLevel`,
    `ChargingScheduleMaxPeriods` and `MaxChargingProfilesInstalled` from a configuration snapshot.

    Missing or malformed values fall back to the conservative defaults (stack level 0, one period).
    """
    units = str(config.get("ChargingScheduleAllowedChargingRateUnit") or "Current")
    allowed = {u.strip().lower() for u in units.replace(";", ",").split(",") if u.strip()}
    rate_unit = "W" if allowed and "current" not in allowed and "power" in allowed else "A"
    return ProfileCapabilities(
        rate_unit=rate_unit,
        max_stack_level=_int(config.get("ChargeProfileMaxStackLevel"), default=0, low=0),
        max_periods=_int(config.get("ChargingScheduleMaxPeriods"), default=1, low=1),
        max_profiles_installed=_int_or_none(config.get("MaxChargingProfilesInstalled")),
        phases=phases,
    )


def profile_id(purpose: str, connector_id: int) -> int:
    """The stable chargingProfileId we use for `purpose` (or `SAFE_SOCKET`) on `connector_id`."""
    if purpose == SAFE_SOCKET:
        return SAFE_SOCKET_ID_BLOCK + connector_id
    return _ID_BLOCK[purpose] + connector_id


def profiles_needed(connectors: int) -> int:
    """How many profiles we may install at most on a station with `connectors` sockets:
    ChargePointMax + safe default + per connector one Tx(Default) profile and one safe default
    of its own (when the station's sockets get different safe shares)."""
    return 2 + 2 * connectors


def round_down(limit_a: float) -> float:
    """Round a current down to 0.1 A (tolerating float noise such as 15.999999999 → 16.0)."""
    if limit_a <= 0:
        return 0.0
    return math.floor(round(limit_a * 10, 6)) / 10


def to_rate(limit_a: float, caps: ProfileCapabilities) -> float:
    """The schedule limit in the station's unit: A rounded down to 0.1 A, or whole Watts."""
    amps = round_down(limit_a)
    if caps.rate_unit == "A":
        return amps
    return float(math.floor(amps * VOLTAGE_V * caps.phases))


def utc_timestamp(epoch_s: float) -> str:
    """ISO 8601 in UTC with a `Z` suffix, whole seconds."""
    return datetime.fromtimestamp(int(epoch_s), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> float:
    """Epoch seconds of an OCPP timestamp (with `Z` or an offset; naive means UTC)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def schedule_periods(
    periods: Sequence[tuple[int, float]], caps: ProfileCapabilities
) -> list[dict[str, Any]]:
    """Periods `(start offset s, limit A)` within the station's `ChargingScheduleMaxPeriods`.

    When there are too many, the last kept period takes the lowest of the dropped limits, so
    truncation can only make the schedule stricter, never looser.
    """
    if not periods:
        raise ValueError("a charging schedule needs at least one period")
    ordered = sorted(periods)
    if ordered[0][0] != 0:
        raise ValueError("the first schedule period must start at 0")
    kept = list(ordered[: caps.max_periods])
    if len(ordered) > caps.max_periods:
        start, limit = kept[-1]
        kept[-1] = (start, min([limit] + [lim for _, lim in ordered[caps.max_periods :]]))
    out: list[dict[str, Any]] = []
    for start, limit in kept:
        period: dict[str, Any] = {"startPeriod": int(start), "limit": to_rate(limit, caps)}
        if caps.rate_unit == "W" and caps.phases != 3:
            # A station converts W to A with numberPhases, 3 when absent (OCPP 1.6 §7.13).
            period["numberPhases"] = caps.phases
        out.append(period)
    return out


def _profile(
    *,
    purpose: str,
    connector_id: int,
    periods: Sequence[tuple[int, float]],
    caps: ProfileCapabilities,
    now: float,
    stack_level: int,
    validity_s: float | None,
    transaction_id: int | None = None,
) -> dict[str, Any]:
    start = now - CLOCK_SKEW_S
    schedule: dict[str, Any] = {
        "startSchedule": utc_timestamp(start),
        "chargingRateUnit": caps.rate_unit,
        "chargingSchedulePeriod": schedule_periods(periods, caps),
    }
    profile: dict[str, Any] = {
        "chargingProfileId": profile_id(purpose, connector_id),
        "stackLevel": max(0, min(stack_level, caps.max_stack_level)),
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": schedule,
    }
    if transaction_id is not None:
        profile["transactionId"] = transaction_id
    if validity_s is not None:
        # Both validTo and the schedule's duration end the profile: a station honouring either
        # falls back to the safe TxDefaultProfile when we stop renewing.
        valid_to = int(now + validity_s)
        profile["validTo"] = utc_timestamp(valid_to)
        schedule["duration"] = valid_to - int(start)
    return {"connectorId": connector_id, "csChargingProfiles": profile}


def tx_profile(
    connector_id: int,
    transaction_id: int,
    limit_a: float,
    caps: ProfileCapabilities,
    now: float,
    validity_s: float,
) -> dict[str, Any]:
    """SetChargingProfile payload: the running transaction's limit, valid for `validity_s`."""
    if connector_id < 1:
        raise ValueError("a TxProfile needs a connector id ≥ 1")
    return _profile(
        purpose=TX_PROFILE,
        connector_id=connector_id,
        periods=[(0, limit_a)],
        caps=caps,
        now=now,
        stack_level=caps.max_stack_level,
        validity_s=validity_s,
        transaction_id=transaction_id,
    )


def safe_default_profile(limit_a: float, caps: ProfileCapabilities, now: float) -> dict[str, Any]:
    """SetChargingProfile payload: TxDefaultProfile on connector 0 at the safe current, without
    end, one stack level below the top so a connector-level fallback profile can sit above it."""
    return _profile(
        purpose=TX_DEFAULT_PROFILE,
        connector_id=0,
        periods=[(0, limit_a)],
        caps=caps,
        now=now,
        stack_level=caps.max_stack_level - 1,
        validity_s=None,
    )


def connector_default_profile(
    connector_id: int, limit_a: float, caps: ProfileCapabilities, now: float, validity_s: float
) -> dict[str, Any]:
    """SetChargingProfile payload: TxDefaultProfile on one connector at the top stack level with a
    bounded validity — the fallback for stations that reject TxProfile."""
    if connector_id < 1:
        raise ValueError("a connector-level TxDefaultProfile needs a connector id ≥ 1")
    return _profile(
        purpose=TX_DEFAULT_PROFILE,
        connector_id=connector_id,
        periods=[(0, limit_a)],
        caps=caps,
        now=now,
        stack_level=caps.max_stack_level,
        validity_s=validity_s,
    )


def charge_point_max_profile(
    limit_a: float, caps: ProfileCapabilities, now: float
) -> dict[str, Any]:
    """SetChargingProfile payload: ChargePointMaxProfile on connector 0 (only for a configured,
    rarely changing station cap: rewriting it often may wear the station's flash)."""
    return _profile(
        purpose=CHARGE_POINT_MAX_PROFILE,
        connector_id=0,
        periods=[(0, limit_a)],
        caps=caps,
        now=now,
        stack_level=caps.max_stack_level,
        validity_s=None,
    )


def safe_socket_profile(
    connector_id: int, limit_a: float, caps: ProfileCapabilities, now: float
) -> dict[str, Any]:
    """SetChargingProfile payload: a socket's own safe default, a TxDefaultProfile on the
    connector without end at the safe default's stack level (a connector-specific TxDefaultProfile
    overrules the one on connector 0), for stations whose sockets get different safe shares."""
    if connector_id < 1:
        raise ValueError("a socket's safe default needs a connector id ≥ 1")
    payload = _profile(
        purpose=TX_DEFAULT_PROFILE,
        connector_id=connector_id,
        periods=[(0, limit_a)],
        caps=caps,
        now=now,
        stack_level=caps.max_stack_level - 1,
        validity_s=None,
    )
    payload["csChargingProfiles"]["chargingProfileId"] = profile_id(SAFE_SOCKET, connector_id)
    return payload


def clear_profile(purpose: str, connector_id: int) -> dict[str, Any]:
    """ClearChargingProfile payload removing exactly the profile we installed there."""
    return {"id": profile_id(purpose, connector_id)}


def composite_request(
    connector_id: int, unit: str | None = "A", duration_s: int = 60
) -> dict[str, Any]:
    """GetCompositeSchedule payload for the next `duration_s` seconds, asked in `unit` (the
    station's own: a station asked in a unit it does not use may answer −1), or without one."""
    payload: dict[str, Any] = {"connectorId": connector_id, "duration": duration_s}
    if unit is not None:
        payload["chargingRateUnit"] = unit
    return payload


def composite_limit_a(response: Mapping[str, Any], now: float) -> float | None:
    """The limit in force at `now` from a GetCompositeSchedule response, in A, whatever unit the
    station answered in (W at 230 V × the period's `numberPhases`, 3 when absent, as OCPP says).

    None means unknown: not Accepted, no schedule or period, or a negative limit (−1 is how a
    station says it knows no limit in the unit it was asked in) — never read as 0 A.
    """
    if response.get("status") != "Accepted":
        return None
    schedule = response.get("chargingSchedule")
    if not isinstance(schedule, Mapping):
        return None
    periods = schedule.get("chargingSchedulePeriod") or []
    start_text = schedule.get("startSchedule") or response.get("scheduleStart")
    try:
        offset = now - parse_timestamp(start_text) if start_text else 0.0
        ordered = sorted(periods, key=lambda p: float(p.get("startPeriod", 0)))
        if not ordered:
            return None
        # The last period that has started; a schedule reported slightly ahead of our clock
        # counts from its first period.
        in_force = [p for p in ordered if float(p.get("startPeriod", 0)) <= offset] or ordered[:1]
        period = in_force[-1]
        current = float(period["limit"])
        phases = int(period.get("numberPhases") or 3)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    if not math.isfinite(current) or current < 0 or not 1 <= phases <= 3:
        return None
    if schedule.get("chargingRateUnit") == "W":
        current = current / (VOLTAGE_V * phases)
    return round_down(current)


def _int(value: str | None, *, default: int, low: int) -> int:
    try:
        return max(low, int(str(value).strip()))
    except (TypeError, ValueError):
        return default


def _int_or_none(value: str | None) -> int | None:
    try:
        return max(1, int(str(value).strip()))
    except (TypeError, ValueError):
        return None
