"""OCPP 1.6 smart charging as a station applies it: pure functions over the installed profiles.

No I/O and no clock: every function takes the time it evaluates. The station simulator keeps a
tuple of `ChargingProfile`s and asks `install`, `clear`, `end_transaction`, `connector_limit`,
`station_limit` and `composite_schedule`.

Rules (OCPP 1.6 §3.13, §5.16, §7.7/7.8), and the choices made where the spec leaves room:
- Purposes: `ChargePointMaxProfile` only on connector 0 and caps the whole station;
  `TxDefaultProfile` on connector 0 applies to every connector, but a connector-specific one
  active at the evaluated moment wins over all connector-0 ones; `TxProfile` only on a connector
  with a running transaction (matching `transactionId` when given) and overrules
  TxDefaultProfile; it is removed when its transaction ends.
- Within a purpose the highest stack level whose schedule is active at that moment applies; when it
  is outside its validity window or past its schedule's duration, the next level down applies.
- A new profile replaces an installed one with the same id, and one with the same purpose and stack
  level on the same connector.
- Kinds: Absolute (from `startSchedule`; without one it is relative, as the spec says), Relative
  (from the transaction's start; with no transaction from the evaluation start; a relative
  ChargePointMaxProfile from the moment it was installed), Recurring Daily/Weekly (needs
  `startSchedule`; repeats from it, not active before it).
- Limits in W are converted to A at 230 V × `numberPhases` (3 when absent).
- The station's rule limits (`ProfileRules`) are enforced: stack level, number of periods, number
  of installed profiles, allowed rate unit, TxProfile support; the first period must start at 0
  and periods must ascend.
- GetCompositeSchedule asked in a unit the station does not use is answered like the MicroOcpp
  firmware stack does: Accepted, one period with limit −1 ("no limit known in that unit");
  without a unit it answers in its own (A when it allows A).
- A station with `applies_profiles` False accepts valid profiles and keeps none of them ("Accepted"
  does not prove a limit is applied): its composite schedule shows only its local limits.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from csms.sim.charging_profiles import (
    CHARGE_POINT_MAX,
    RECURRENCY_S,
    TX,
    TX_DEFAULT,
    VOLTAGE_V,
    ChargingProfile,
    ProfileError,
    ProfileRules,
    SchedulePeriod,
    Transaction,
    format_time,
    parse_profile,
)

# Profile data and parsing (charging_profiles) are offered here too: users need one module.
__all__ = [
    "CHARGE_POINT_MAX",
    "TX",
    "TX_DEFAULT",
    "ChargingProfile",
    "CompositeSchedule",
    "Decision",
    "Limit",
    "ProfileError",
    "ProfileRules",
    "Transaction",
    "clear",
    "composite_schedule",
    "connector_limit",
    "end_transaction",
    "format_time",
    "install",
    "parse_profile",
    "station_limit",
    "transaction_limit",
    "unknown_schedule",
]


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to SetChargingProfile and the installed profiles afterwards."""

    accepted: bool
    profiles: tuple[ChargingProfile, ...]
    reason: str

    @property
    def status(self) -> str:
        return "Accepted" if self.accepted else "Rejected"


def _rule_violation(
    profile: ChargingProfile, rules: ProfileRules, transactions: Mapping[int, Transaction]
) -> str | None:
    connector = profile.connector_id
    if not 0 <= connector <= rules.connectors:
        return f"connector {connector} does not exist"
    if profile.purpose == CHARGE_POINT_MAX and connector != 0:
        return "ChargePointMaxProfile is only allowed on connector 0"
    if profile.purpose != TX and profile.transaction_id is not None:
        return "transactionId is only allowed in a TxProfile"
    if profile.purpose == TX:
        if not rules.tx_profile_supported:
            return "this station does not support TxProfile"
        if connector == 0:
            return "TxProfile needs a connector id > 0"
        running = transactions.get(connector)
        if running is None:
            return f"no transaction runs on connector {connector}"
        if profile.transaction_id is not None and profile.transaction_id != running.transaction_id:
            return (
                f"transactionId {profile.transaction_id} is not the running transaction "
                f"{running.transaction_id}"
            )
    if profile.stack_level < 0 or profile.stack_level > rules.max_stack_level:
        return f"stackLevel {profile.stack_level} exceeds ChargeProfileMaxStackLevel"
    schedule = profile.schedule
    if len(schedule.periods) > rules.max_periods:
        return f"{len(schedule.periods)} periods exceed ChargingScheduleMaxPeriods"
    if schedule.rate_unit not in rules.allowed_units:
        return f"chargingRateUnit {schedule.rate_unit} is not allowed"
    if schedule.periods[0].start_period != 0:
        return "the first period must start at 0"
    starts = [p.start_period for p in schedule.periods]
    if any(b <= a for a, b in itertools.pairwise(starts)):
        return "periods must have ascending startPeriod"
    for period in schedule.periods:
        if period.limit < 0:
            return "a limit is negative"
        if period.number_phases is not None and period.number_phases not in (1, 2, 3):
            return "numberPhases must be 1, 2 or 3"
    if schedule.duration is not None and schedule.duration <= 0:
        return "duration must be positive"
    if profile.kind == "Recurring" and (profile.recurrency is None or not schedule.start_schedule):
        return "a Recurring profile needs recurrencyKind and startSchedule"
    if (
        profile.valid_from is not None
        and profile.valid_to is not None
        and profile.valid_to <= profile.valid_from
    ):
        return "validTo is not after validFrom"
    return None


def install(
    installed: tuple[ChargingProfile, ...],
    profile: ChargingProfile,
    rules: ProfileRules,
    transactions: Mapping[int, Transaction],
) -> Decision:
    """SetChargingProfile: check `profile` against the rules and install it, replacing per spec.

    `transactions` maps connector id to its running transaction.
    """
    reason = _rule_violation(profile, rules, transactions)
    if reason is not None:
        return Decision(False, installed, reason)
    if profile.purpose == TX and profile.transaction_id is None:
        # The profile belongs to the running transaction and ends with it.
        profile = replace(profile, transaction_id=transactions[profile.connector_id].transaction_id)
    kept = tuple(
        p
        for p in installed
        if p.id != profile.id
        and not (
            p.connector_id == profile.connector_id
            and p.purpose == profile.purpose
            and p.stack_level == profile.stack_level
        )
    )
    if len(kept) >= rules.max_installed:
        return Decision(False, installed, "MaxChargingProfilesInstalled reached")
    if not rules.applies_profiles:
        return Decision(True, installed, "accepted, not applied")
    replaced = len(installed) - len(kept)
    return Decision(True, (*kept, profile), "replaced" if replaced else "installed")


def clear(
    installed: tuple[ChargingProfile, ...],
    *,
    profile_id: int | None = None,
    connector_id: int | None = None,
    purpose: str | None = None,
    stack_level: int | None = None,
) -> tuple[tuple[ChargingProfile, ...], int]:
    """ClearChargingProfile: (remaining profiles, number removed).

    With an id only that profile is cleared (the other criteria are ignored, as OCPP 2.0.1 makes
    explicit); otherwise every profile matching all given criteria; no criteria clears all.
    """

    def matches(p: ChargingProfile) -> bool:
        if profile_id is not None:
            return p.id == profile_id
        return (
            (connector_id is None or p.connector_id == connector_id)
            and (purpose is None or p.purpose == purpose)
            and (stack_level is None or p.stack_level == stack_level)
        )

    kept = tuple(p for p in installed if not matches(p))
    return kept, len(installed) - len(kept)


def end_transaction(
    installed: tuple[ChargingProfile, ...], connector_id: int
) -> tuple[ChargingProfile, ...]:
    """Drop the TxProfiles of a connector whose transaction ended."""
    return tuple(p for p in installed if not (p.purpose == TX and p.connector_id == connector_id))


# -- evaluation ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limit:
    """A profile limit in A at one moment, and the profile it comes from."""

    amps: float
    number_phases: int | None
    purpose: str
    profile_id: int
    stack_level: int

    @property
    def source(self) -> str:
        return f"{self.purpose} {self.profile_id} (stack level {self.stack_level})"


def _schedule_start(profile: ChargingProfile, t: float, anchor: float) -> float | None:
    """When the profile's schedule (its current recurrence) started, or None before it starts."""
    start = profile.schedule.start_schedule
    if profile.kind == "Recurring":
        if start is None or profile.recurrency is None or t < start:
            return None
        cycle = RECURRENCY_S[profile.recurrency]
        return start + math.floor((t - start) / cycle) * cycle
    if profile.kind == "Absolute" and start is not None:
        return start
    return anchor


def _relative_anchor(profile: ChargingProfile, anchor: float) -> float:
    return profile.installed_at if profile.purpose == CHARGE_POINT_MAX else anchor


def period_at(profile: ChargingProfile, t: float, anchor: float) -> SchedulePeriod | None:
    """The schedule period in force at `t`, or None when the profile does not apply then."""
    if profile.valid_from is not None and t < profile.valid_from:
        return None
    if profile.valid_to is not None and t >= profile.valid_to:
        return None
    start = _schedule_start(profile, t, _relative_anchor(profile, anchor))
    if start is None or t < start:
        return None
    offset = t - start
    duration = profile.schedule.duration
    if duration is not None and offset >= duration:
        return None
    current: SchedulePeriod | None = None
    for period in profile.schedule.periods:
        if period.start_period <= offset:
            current = period
        else:
            break
    return current


def to_amps(limit: float, unit: str, number_phases: int | None) -> float:
    """A schedule limit in A (W are divided by 230 V × phases, 3 when not given)."""
    if unit == "W":
        return limit / (VOLTAGE_V * (number_phases or 3))
    return limit


def limit_of(profile: ChargingProfile, t: float, anchor: float) -> Limit | None:
    """The profile's limit at `t` in A, or None when it does not apply then."""
    period = period_at(profile, t, anchor)
    if period is None:
        return None
    amps = to_amps(period.limit, profile.schedule.rate_unit, period.number_phases)
    return Limit(amps, period.number_phases, profile.purpose, profile.id, profile.stack_level)


def _highest(profiles: Iterable[ChargingProfile], t: float, anchor: float) -> Limit | None:
    for profile in sorted(profiles, key=lambda p: p.stack_level, reverse=True):
        limit = limit_of(profile, t, anchor)
        if limit is not None:
            return limit
    return None


def station_limit(installed: Iterable[ChargingProfile], t: float) -> Limit | None:
    """The ChargePointMaxProfile limit at `t` (per phase, for the whole station), if any."""
    return _highest((p for p in installed if p.purpose == CHARGE_POINT_MAX), t, t)


def transaction_limit(
    installed: tuple[ChargingProfile, ...],
    connector_id: int,
    t: float,
    tx: Transaction | None,
    anchor: float | None = None,
) -> Limit | None:
    """The TxProfile, else TxDefaultProfile limit of a connector at `t` (no station cap)."""
    start = tx.started_at if tx is not None else (t if anchor is None else anchor)
    if tx is not None:
        limit = _highest(
            (
                p
                for p in installed
                if p.purpose == TX
                and p.connector_id == connector_id
                and p.transaction_id in (None, tx.transaction_id)
            ),
            t,
            start,
        )
        if limit is not None:
            return limit
    defaults = [p for p in installed if p.purpose == TX_DEFAULT]
    specific = _highest((p for p in defaults if p.connector_id == connector_id), t, start)
    if specific is not None:
        return specific
    return _highest((p for p in defaults if p.connector_id == 0), t, start)


def connector_limit(
    installed: tuple[ChargingProfile, ...],
    connector_id: int,
    t: float,
    tx: Transaction | None,
    anchor: float | None = None,
) -> Limit | None:
    """The lowest profile limit on a connector at `t`: min(ChargePointMax, Tx/TxDefault).

    Connector 0 gives the ChargePointMaxProfile limit. `anchor` is where relative schedules start
    when no transaction runs (default `t`).
    """
    cap = station_limit(installed, t)
    if connector_id == 0:
        return cap
    own = transaction_limit(installed, connector_id, t, tx, anchor)
    if own is None or (cap is not None and cap.amps < own.amps):
        return cap
    return own


# -- composite schedule -------------------------------------------------------------------------


# A composite schedule's periods have the same shape as a profile's.
CompositePeriod = SchedulePeriod


@dataclass(frozen=True, slots=True)
class CompositeSchedule:
    start: int
    duration: int
    rate_unit: str
    periods: tuple[CompositePeriod, ...]

    def to_ocpp(self) -> dict[str, Any]:
        """The `chargingSchedule` object of a GetCompositeSchedule answer."""
        periods = []
        for p in self.periods:
            item: dict[str, Any] = {"startPeriod": p.start_period, "limit": p.limit}
            if p.number_phases is not None:
                item["numberPhases"] = p.number_phases
            periods.append(item)
        return {
            "duration": self.duration,
            "startSchedule": format_time(self.start),
            "chargingRateUnit": self.rate_unit,
            "chargingSchedulePeriod": periods,
        }


def _change_points(profile: ChargingProfile, lo: float, hi: float, anchor: float) -> set[float]:
    points = {t for t in (profile.valid_from, profile.valid_to) if t is not None}
    schedule = profile.schedule
    starts: list[float] = []
    if profile.kind == "Recurring":
        if schedule.start_schedule is not None and profile.recurrency is not None:
            cycle = RECURRENCY_S[profile.recurrency]
            first = _schedule_start(profile, max(lo, schedule.start_schedule), anchor)
            s = schedule.start_schedule if first is None else first
            while s < hi:
                starts.append(s)
                s += cycle
    else:
        start = _schedule_start(profile, lo, _relative_anchor(profile, anchor))
        if start is not None:
            starts.append(start)
    for s in starts:
        points.update(s + p.start_period for p in schedule.periods)
        if schedule.duration is not None:
            points.add(s + schedule.duration)
    return points


def unknown_schedule(start: float, duration: int, rate_unit: str) -> CompositeSchedule:
    """The composite answer in a unit the station does not use: limit −1 over the window."""
    return CompositeSchedule(
        math.floor(start), duration, rate_unit, (CompositePeriod(0, -1.0, None),)
    )


def composite_schedule(
    installed: tuple[ChargingProfile, ...],
    connector_id: int,
    start: float,
    duration: int,
    *,
    tx: Transaction | None,
    local_limit_a: float,
    rate_unit: str = "A",
) -> CompositeSchedule:
    """GetCompositeSchedule: the limit over [start, start + duration) as schedule periods.

    Each moment's limit is min(profile limit, `local_limit_a`) — OCPP 1.6 lets the station include
    its local limits; the simulator includes its static ones (connector/station maximum), so a
    window without any profile reports the local limit. Limits are rounded to 0.1 (schema).
    """
    begin = math.floor(start)
    end = begin + max(0, duration)
    anchor = tx.started_at if tx is not None else float(begin)
    points: set[float] = {float(begin)}
    for profile in installed:
        points |= _change_points(profile, begin, end, anchor)
    times = sorted({begin, *(math.ceil(t) for t in points if begin <= t < end)})
    periods: list[CompositePeriod] = []
    for t in times:
        limit = connector_limit(installed, connector_id, t, tx, anchor)
        phases = None
        amps = local_limit_a
        if limit is not None and limit.amps < local_limit_a:
            amps, phases = limit.amps, limit.number_phases
        value = amps if rate_unit == "A" else amps * VOLTAGE_V * (phases or 3)
        period = CompositePeriod(t - begin, round(value, 1), phases)
        if periods and (periods[-1].limit, periods[-1].number_phases) == (
            period.limit,
            period.number_phases,
        ):
            continue
        periods.append(period)
    return CompositeSchedule(begin, duration, rate_unit, tuple(periods))
