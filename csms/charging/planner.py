# Over 450 lines because DeliveryPlanner is one state machine: order, deadband, backoff share it.
"""The dispatcher's pure decision logic: which profile to send to which station next.

`DeliveryPlanner` holds, per site, each connector's target and what the station accepted, and turns
that into commands. It does no I/O; time is passed in. The rules (field lessons of other central
systems):

- one command in flight per station; the planner picks the most important one for each idle station;
- all decreases across the site go out before any increase (an increase waits while a decrease is in
  flight or ready to send), so a raise never lands before its matching cut;
- a deadband skips changes too small to matter, but never a decrease marked urgent (safety), nor
  the first limit of a session whose profile is unknown (after a reconnect or a take-over the
  station may still apply one we cannot see);
- the accepted value is cached only on `Accepted`; anything else is retried with exponential
  backoff;
- per station the proven method is recorded: a station that never accepted a TxProfile and rejects
  one is switched to a TxDefaultProfile on the connector (and the API shows it);
- TxProfiles carry a bounded validity that is renewed before it ends (a renewal takes a raise
  within the deadband along, never a cut within it); the safe TxDefaultProfile on
  connector 0 lies beneath, so a station whose central system went silent falls back to it;
- after a change is accepted, GetCompositeSchedule (asked in the station's own unit) verifies what
  the station really applies, and `Current.Offered` from its MeterValues is a second proof; a
  composite (or an offered current, beyond a grace) that disagrees with what the station accepted
  is re-sent a bounded number of times, then shown as a station that does not agree;
- every profile rewrite may be a flash write on the station: a connector's profile is rewritten at
  most once per `min_rewrite_s` (urgent decreases, safety re-sends, the first limit of a session,
  validity renewals and a cut some raise waits for excepted), and the writes are counted per
  station;
- a station whose sockets get different safe shares gets each socket's share as a TxDefaultProfile
  on that connector, above the lowest share on connector 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from csms.charging import profiles
from csms.charging.profiles import (
    CHARGE_POINT_MAX_PROFILE,
    SAFE_SOCKET,
    TX_DEFAULT_PROFILE,
    TX_PROFILE,
    ProfileCapabilities,
)

# Command kinds in the order a station's commands are picked.
DECREASE = "decrease"
DEFAULT = "default"
CLEAR = "clear"
RENEW = "renew"
INCREASE = "increase"
VERIFY = "verify"
_PRIORITY = {DECREASE: 0, DEFAULT: 1, CLEAR: 2, RENEW: 3, INCREASE: 4, VERIFY: 5}

ACCEPTED = "Accepted"
# Outcomes that say the station cannot take this kind of profile (vs. a transient failure).
REFUSALS = frozenset({"Rejected", "NotSupported", "NotImplemented"})


@dataclass(frozen=True, slots=True)
class Target:
    """What one charging connector should get. `urgent` marks a decrease needed for safety."""

    station_id: str
    connector_id: int
    limit_a: float
    source: str
    transaction_id: int
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class Command:
    """One OCPP call the shell should make, and what it means for the planner."""

    station_id: str
    action: str
    payload: dict[str, Any]
    kind: str
    connector_id: int
    purpose: str | None = None
    limit_a: float | None = None
    transaction_id: int | None = None
    valid_to: float | None = None


@dataclass(frozen=True, slots=True)
class Installed:
    """A profile the station accepted from us."""

    purpose: str
    connector_id: int
    profile_id: int
    stack_level: int
    limit_a: float
    transaction_id: int | None
    valid_to: float | None
    accepted_at: float


@dataclass(slots=True)
class Slot:
    """Delivery state of one profile position (connector × purpose) on a station."""

    installed: Installed | None = None
    failures: int = 0
    retry_at: float = 0.0
    last_status: str | None = None


# Verification states of a connector (for the API).
NOT_VERIFIED = "not verified yet"
AGREES = "agrees"
UNKNOWN = "unknown"
RESENT = "mismatch, re-sent"
GAVE_UP = "station does not agree"


@dataclass(slots=True)
class ConnectorView:
    """What the planner knows about one connector (for the API)."""

    target: Target | None = None
    composite_a: float | None = None  # in A; None: not asked yet or unknown (`composite_known`)
    composite_at: float | None = None
    composite_known: bool = False
    composite_unit: str | None = None  # the unit the station answered in
    checked_a: float | None = None  # what the station had accepted when the composite was read
    verify_due: bool = False
    verify_without_unit: bool = False  # asked in a unit and answered −1: ask again without one
    verification: str = NOT_VERIFIED
    mismatches: int = 0  # disagreements since the station last agreed
    mismatch: str | None = None  # the session's last disagreement, in words
    resend: str | None = None  # DECREASE/INCREASE: re-send the target to fix a disagreement
    offered_a: float | None = None  # Current.Offered from the station's MeterValues
    offered_at: float | None = None
    offered_above_since: float | None = None

    def reset_verification(self) -> None:
        self.composite_a = None
        self.composite_known = False
        self.composite_unit = None
        self.checked_a = None
        self.verify_due = False
        self.verify_without_unit = False
        self.verification = NOT_VERIFIED
        self.mismatches = 0
        self.mismatch = None
        self.resend = None
        self.offered_above_since = None


@dataclass(slots=True)
class StationPlan:
    caps: ProfileCapabilities = field(default_factory=ProfileCapabilities)
    safe_limit_a: float = 6.0
    cap_a: float | None = None
    method: str | None = None  # proven: TxProfile or TxDefaultProfile
    tx_profile_refused: bool = False
    in_flight: str | None = None  # kind of the command the station is working on
    slots: dict[tuple[int, str], Slot] = field(default_factory=dict)
    connectors: dict[int, ConnectorView] = field(default_factory=dict)
    # Safe shares of sockets above `safe_limit_a` (which goes on connector 0 as the lowest share).
    safe_sockets: dict[int, float] = field(default_factory=dict)
    # When each connector's dynamic profile was last rewritten (accepted), for the flash bound.
    rewritten_at: dict[int, float] = field(default_factory=dict)
    writes_sent: int = 0  # SetChargingProfile sent to the station
    writes_accepted: int = 0  # … and accepted (each may be a flash write)

    def slot(self, connector_id: int, purpose: str) -> Slot:
        return self.slots.setdefault((connector_id, purpose), Slot())

    @property
    def tx_purpose(self) -> str:
        return TX_DEFAULT_PROFILE if self.tx_profile_refused else TX_PROFILE


@dataclass(frozen=True, slots=True)
class PlannerSettings:
    deadband_a: float = 1.0
    validity_s: float = 300.0
    renew_before_s: float = 150.0
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    min_rewrite_s: float = 0.0  # a connector's profile is rewritten at most this often (flash)
    verify_tolerance_a: float = 0.5  # composite/offered vs accepted: larger differences disagree
    max_resends: int = 3  # re-sends after disagreements before the planner says so and stops
    offered_grace_s: float = 10.0  # Current.Offered may exceed the limit this long after a change


class DeliveryPlanner:
    """Targets and accepted profiles of one site's stations; decides the next commands."""

    def __init__(self, settings: PlannerSettings = PlannerSettings()) -> None:
        self.settings = settings
        self.stations: dict[str, StationPlan] = {}
        self._dirty: set[str] = set()  # stations whose inputs changed since the last pick
        self._held: set[str] = set()  # stations holding back an increase
        self._rate_held: set[str] = set()  # stations with a decrease held by the flash bound

    # -- inputs ----------------------------------------------------------------------------
    def station(self, station_id: str) -> StationPlan:
        return self.stations.setdefault(station_id, StationPlan())

    def touch(self, station_id: str) -> StationPlan:
        """The station's planner, marked for examination at the next pick."""
        self._dirty.add(station_id)
        return self.station(station_id)

    def configure_station(
        self,
        station_id: str,
        *,
        caps: ProfileCapabilities | None = None,
        safe_limit_a: float | None = None,
        method: str | None = None,
    ) -> None:
        """Set what the station accepts, its safe default and a method proven earlier (from
        storage); arguments left None stay as they are."""
        planner = self.station(station_id)
        before = (planner.caps, planner.safe_limit_a, planner.method)
        if caps is not None:
            planner.caps = caps
        if safe_limit_a is not None:
            planner.safe_limit_a = profiles.round_down(safe_limit_a)
        if method is not None:
            planner.method = method
            planner.tx_profile_refused = method == TX_DEFAULT_PROFILE
        if (planner.caps, planner.safe_limit_a, planner.method) != before:
            self._dirty.add(station_id)

    def set_safe_shares(self, station_id: str, shares: dict[int, float]) -> None:
        """Each socket's safe default (what it may draw while we are silent). The lowest share
        goes on connector 0; sockets above it get their own TxDefaultProfile — unless the station
        has a single stack level and needs connector-level TxDefaultProfiles for its dynamic
        limit (the two would replace each other): then every socket gets the lowest share."""
        if not shares:
            return
        low = profiles.round_down(min(shares.values()))
        planner = self.station(station_id)
        above = {
            c: profiles.round_down(a) for c, a in shares.items() if profiles.round_down(a) > low
        }
        if planner.tx_profile_refused and planner.caps.max_stack_level == 0:
            above = {}
        before = (planner.safe_limit_a, planner.safe_sockets)
        planner.safe_limit_a = low
        planner.safe_sockets = above
        if (planner.safe_limit_a, planner.safe_sockets) != before:
            self._dirty.add(station_id)

    def note_offered(
        self, station_id: str, connector_id: int, offered_a: float, now: float
    ) -> None:
        """`Current.Offered` from a MeterValues sample: the second proof of what the station
        applies. Offered above the limit it accepted for longer than `offered_grace_s` (counted
        from the later of the first such sample and the acceptance) is a disagreement."""
        planner = self.station(station_id)
        view = planner.connectors.get(connector_id)
        if view is None or view.target is None or not math.isfinite(offered_a):
            return
        view.offered_a = offered_a
        view.offered_at = now
        limit = self._applies_a(station_id, connector_id, now)
        if offered_a <= limit + self.settings.verify_tolerance_a:
            view.offered_above_since = None
            return
        if view.offered_above_since is None:
            view.offered_above_since = now
        installed = self.in_effect(station_id, connector_id, now)
        since = max(view.offered_above_since, 0.0 if installed is None else installed.accepted_at)
        if now - since >= self.settings.offered_grace_s:
            view.offered_above_since = now
            self._disagrees(
                station_id, view, f"offered {offered_a:g} A above the accepted {limit:g} A", True
            )

    def set_station_cap(self, station_id: str, cap_a: float | None) -> None:
        """The station's ChargePointMaxProfile limit (None: none installed by us)."""
        planner = self.touch(station_id)
        planner.cap_a = None if cap_a is None else profiles.round_down(cap_a)

    def set_targets(self, targets: Iterable[Target]) -> None:
        """Replace all connector targets; connectors left out are no longer charging."""
        fresh = {(t.station_id, t.connector_id): t for t in targets}
        for station_id, planner in self.stations.items():
            for connector_id, view in planner.connectors.items():
                if (station_id, connector_id) not in fresh and view.target is not None:
                    view.target = None
                    self._dirty.add(station_id)
        for (station_id, connector_id), target in fresh.items():
            rounded = Target(
                station_id,
                connector_id,
                profiles.round_down(target.limit_a),
                target.source,
                target.transaction_id,
                target.urgent,
            )
            view = self.station(station_id).connectors.setdefault(connector_id, ConnectorView())
            if view.target is None or view.target.transaction_id != rounded.transaction_id:
                view.reset_verification()  # a new session: its own proof
            if view.target != rounded:
                view.target = rounded
                self._dirty.add(station_id)

    def transaction_ended(self, station_id: str, connector_id: int | None = None) -> None:
        """The station drops TxProfiles when a transaction ends; forget ours (all connectors of
        the station when the connector is unknown)."""
        planner = self.touch(station_id)
        for (conn, purpose), slot in planner.slots.items():
            if purpose == TX_PROFILE and connector_id in (None, conn):
                slot.installed = None

    def forget_station(self, station_id: str) -> None:
        """A station (re)connected: we cannot know what it kept, so send everything again.
        (A command still in flight on the old connection ends with its answer or `Offline`.)"""
        planner = self.touch(station_id)
        planner.slots.clear()
        for view in planner.connectors.values():
            view.reset_verification()

    # -- decisions -------------------------------------------------------------------------
    def in_effect(self, station_id: str, connector_id: int, now: float) -> Installed | None:
        """Our profile the station applies now to this connector's session: its TxProfile for
        the running transaction, a connector-level TxDefaultProfile, or the safe default on
        connector 0 (None before the station accepted any of them)."""
        planner = self.station(station_id)
        view = planner.connectors.get(connector_id)
        tx = view.target.transaction_id if view and view.target else None
        for purpose in (TX_PROFILE, TX_DEFAULT_PROFILE):
            slot = planner.slots.get((connector_id, purpose))
            installed = None if slot is None else slot.installed
            if installed is None or (installed.valid_to is not None and installed.valid_to <= now):
                continue
            if purpose == TX_PROFILE and installed.transaction_id != tx:
                continue
            return installed
        for key in ((connector_id, SAFE_SOCKET), (0, TX_DEFAULT_PROFILE)):
            slot = planner.slots.get(key)
            if slot is not None and slot.installed is not None:
                return slot.installed
        return None

    def effective_a(self, station_id: str, connector_id: int, now: float) -> float:
        """The limit the station should apply now to this connector's session, from what it
        accepted (the safe default when none of our profiles is in effect yet)."""
        installed = self.in_effect(station_id, connector_id, now)
        if installed is not None:
            return installed.limit_a
        planner = self.station(station_id)
        return planner.safe_sockets.get(connector_id, planner.safe_limit_a)

    def _applies_a(self, station_id: str, connector_id: int, now: float) -> float:
        """What the station should apply on the connector: its profile, capped by our
        ChargePointMaxProfile where it accepted one."""
        limit = self.effective_a(station_id, connector_id, now)
        cap = self.station(station_id).slots.get((0, CHARGE_POINT_MAX_PROFILE))
        if cap is not None and cap.installed is not None:
            limit = min(limit, cap.installed.limit_a)
        return limit

    def _disagrees(self, station_id: str, view: ConnectorView, what: str, above: bool) -> None:
        """Record a disagreement; re-send the target unless the bound is reached."""
        view.mismatches += 1
        view.mismatch = what
        if view.mismatches > self.settings.max_resends:
            view.verification = GAVE_UP
            view.resend = None
            return
        view.verification = RESENT
        # Re-sending lowers what a station applying too much draws: a decrease (never held back);
        # for one applying too little it is a raise, and waits behind the site's decreases.
        view.resend = DECREASE if above else INCREASE
        self._dirty.add(station_id)

    def next_commands(
        self, now: float, online: Callable[[str], bool], *, full: bool = True
    ) -> list[Command]:
        """At most one command per idle online station; marks those stations busy.

        Increases wait while any decrease of the site is in flight or ready to send. A decrease
        held back by the flash bound is sent anyway as soon as an increase waits for it (the cut
        that makes room for a raise is not held; a raise never lands before its cut). With
        `full=False` only stations whose inputs changed since the last call (and stations holding
        back an increase or a held decrease) are examined — cheap enough to call after every
        answer; time-driven work (retries, renewals) needs a periodic full call.
        """
        in_flight_decrease = any(b.in_flight == DECREASE for b in self.stations.values())
        names = (
            list(self.stations)
            if full
            else [
                sid
                for sid in self.stations
                if sid in self._dirty or sid in self._held or sid in self._rate_held
            ]
        )
        self._dirty.clear()
        picks: dict[str, _Choice] = {}
        held_cuts: dict[str, _Choice] = {}
        for station_id in names:
            planner = self.stations[station_id]
            self._held.discard(station_id)
            if not online(station_id):
                self._rate_held.discard(station_id)  # it gets nothing, so holds nothing back
                continue
            if planner.in_flight is not None:
                continue
            choices = self._choices(station_id, planner, now)
            ready = [c for c in choices if not c.held]
            if ready:
                picks[station_id] = min(ready, key=lambda c: _PRIORITY[c.kind])
            cut = next((c for c in choices if c.held and c.kind == DECREASE), None)
            if cut is not None:
                self._rate_held.add(station_id)
                held_cuts[station_id] = cut
            else:
                self._rate_held.discard(station_id)
        ready_decrease = in_flight_decrease or any(c.kind == DECREASE for c in picks.values())
        if held_cuts and not ready_decrease and any(c.kind == INCREASE for c in picks.values()):
            # A raise waits for cuts held by the flash bound: send the cuts now.
            picks.update(held_cuts)
        decrease_pending = (
            ready_decrease
            or bool(self._rate_held)
            or any(c.kind == DECREASE for c in picks.values())
        )
        chosen: list[Command] = []
        for station_id, choice in picks.items():
            if choice.kind == INCREASE and decrease_pending:
                self._held.add(station_id)
                continue
            if station_id in held_cuts and choice is held_cuts[station_id]:
                self._rate_held.discard(station_id)
            self.stations[station_id].in_flight = choice.kind
            chosen.append(choice.build())
        return chosen

    def _choices(self, station_id: str, planner: StationPlan, now: float) -> list[_Choice]:
        """What the station could be sent now, each built only if picked."""
        out: list[_Choice] = []
        default = planner.slot(0, TX_DEFAULT_PROFILE)
        safe = planner.safe_limit_a
        if _due(default, now) and (default.installed is None or default.installed.limit_a != safe):
            # A change of the safe default (the site's safe current moving between stations)
            # is ordered like any other limit: all lowering before any raise, so the stations'
            # defaults together never exceed the safe current should we go silent in between.
            default_kind = DEFAULT
            if default.installed is not None:
                default_kind = DECREASE if safe < default.installed.limit_a else INCREASE
            out.append(
                _Choice(
                    default_kind,
                    lambda: _set(
                        station_id,
                        profiles.safe_default_profile(safe, planner.caps, now),
                        default_kind,
                        safe,
                        None,
                        None,
                    ),
                )
            )
        for connector_id in sorted(
            {c for c, p in planner.slots if p == SAFE_SOCKET} | set(planner.safe_sockets)
        ):
            choice = self._safe_socket_choice(station_id, planner, connector_id, now)
            if choice is not None:
                out.append(choice)
        cap = planner.slot(0, CHARGE_POINT_MAX_PROFILE)
        cap_a = planner.cap_a
        if _due(cap, now):
            installed = cap.installed.limit_a if cap.installed else None
            if cap_a is not None and installed != cap_a:
                kind = DECREASE if installed is None or cap_a < installed else INCREASE
                out.append(
                    _Choice(
                        kind,
                        lambda: _set(
                            station_id,
                            profiles.charge_point_max_profile(cap_a, planner.caps, now),
                            kind,
                            cap_a,
                            None,
                            None,
                        ),
                    )
                )
            elif cap_a is None and cap.installed is not None:
                out.append(_Choice(CLEAR, lambda: _clear(station_id, CHARGE_POINT_MAX_PROFILE, 0)))
        for connector_id, view in planner.connectors.items():
            choice = self._connector_choice(station_id, planner, connector_id, view, now)
            if choice is not None:
                out.append(choice)
            if view.verify_due and view.target is not None:
                out.append(
                    _Choice(
                        VERIFY,
                        partial(
                            _verify,
                            station_id,
                            connector_id,
                            None if view.verify_without_unit else planner.caps.rate_unit,
                        ),
                    )
                )
        return out

    def _safe_socket_choice(
        self, station_id: str, planner: StationPlan, connector_id: int, now: float
    ) -> _Choice | None:
        """A socket's own safe default: sent, changed, or cleared when its share is no longer
        above connector 0's (ordered like any limit: lowering before raising)."""
        slot = planner.slot(connector_id, SAFE_SOCKET)
        if not _due(slot, now):
            return None
        share = planner.safe_sockets.get(connector_id)
        installed = None if slot.installed is None else slot.installed.limit_a
        if share is None:
            if installed is None:
                return None
            # Without it the socket falls back to connector 0's share, the lowest: a decrease.
            return _Choice(DECREASE, partial(_clear, station_id, SAFE_SOCKET, connector_id))
        if installed == share:
            return None
        before = planner.safe_limit_a if installed is None else installed
        kind = DECREASE if share < before else INCREASE
        return _Choice(
            kind,
            lambda: _set(
                station_id,
                profiles.safe_socket_profile(connector_id, share, planner.caps, now),
                kind,
                share,
                None,
                None,
                purpose=SAFE_SOCKET,
            ),
        )

    def _connector_choice(
        self,
        station_id: str,
        planner: StationPlan,
        connector_id: int,
        view: ConnectorView,
        now: float,
    ) -> _Choice | None:
        s = self.settings
        target = view.target
        purpose = planner.tx_purpose
        if target is None:
            # Not charging: a connector-level TxDefaultProfile would carry the last dynamic limit
            # into the next session, so remove it.
            fallback = planner.slot(connector_id, TX_DEFAULT_PROFILE)
            if fallback.installed is not None and _due(fallback, now):
                return _Choice(CLEAR, partial(_clear, station_id, TX_DEFAULT_PROFILE, connector_id))
            return None
        slot = planner.slot(connector_id, purpose)
        if not _due(slot, now):
            return None
        current = self.effective_a(station_id, connector_id, now)
        installed = slot.installed
        ours = (
            installed is not None
            and (installed.valid_to is None or installed.valid_to > now)
            and (purpose != TX_PROFILE or installed.transaction_id == target.transaction_id)
        )
        kind: str | None = None
        if target.limit_a < current:
            if target.urgent or current - target.limit_a >= s.deadband_a:
                kind = DECREASE
        elif target.limit_a - current >= s.deadband_a:
            kind = INCREASE
        if kind is None and not ours:
            # No profile of ours known for this session: the station may still apply one we
            # cannot see (sent before it reconnected, or by the node that led the site before a
            # take-over), so what it applies is unknown and the target goes out whatever the
            # deadband says — as a decrease unless it raises what we believe it applies.
            kind = INCREASE if target.limit_a > current else DECREASE
        expires = installed.valid_to if ours and installed is not None else None
        resend = kind is None and view.resend is not None
        if resend:
            kind = view.resend
        if kind is None and expires is not None and expires - now <= s.renew_before_s:
            kind = RENEW
        if kind is None:
            return None
        chosen_kind = kind
        # Flash wear: rewrite a connector's profile at most once per `min_rewrite_s`, except
        # for safety (urgent decreases, re-sending to a station applying too much), the first
        # limit of a session and validity renewals.
        exempt = kind == RENEW or (kind == DECREASE and (target.urgent or resend)) or not ours
        last = planner.rewritten_at.get(connector_id)
        held = not exempt and last is not None and now < last + s.min_rewrite_s
        if held and expires is not None and expires - now <= s.renew_before_s:
            held = False  # the profile must be rewritten anyway (renewal): take the change along

        # A plain renewal (the target asks for no change the deadband lets through; a held change
        # goes with it as that change's kind) takes a small raise along, so a ramp ends on its
        # target, but never a small cut: the deadband skips it, and carrying it let the noise of
        # the estimates take a raise back at every renewal, and raise it again at the next.
        limit_a = target.limit_a
        if kind == RENEW and installed is not None and limit_a < installed.limit_a:
            limit_a = installed.limit_a

        def build() -> Command:
            if purpose == TX_PROFILE:
                payload = profiles.tx_profile(
                    connector_id,
                    target.transaction_id,
                    limit_a,
                    planner.caps,
                    now,
                    s.validity_s,
                )
            else:
                payload = profiles.connector_default_profile(
                    connector_id, limit_a, planner.caps, now, s.validity_s
                )
            return _set(
                station_id,
                payload,
                chosen_kind,
                limit_a,
                target.transaction_id,
                now + s.validity_s,
            )

        return _Choice(kind, build, held)

    # -- results ---------------------------------------------------------------------------
    def on_result(
        self, command: Command, status: str, now: float, response: dict[str, Any] | None = None
    ) -> None:
        """Record the outcome of a command: the station's status (`Accepted`, `Rejected`, …), a
        CALLERROR code (`NotSupported`, …), `Timeout` or `Offline`."""
        planner = self.touch(command.station_id)
        planner.in_flight = None
        if command.action == "GetCompositeSchedule":
            self._composite_result(command, status, now, response)
            return
        assert command.purpose is not None
        slot = planner.slot(command.connector_id, command.purpose)
        slot.last_status = status
        if command.action == "ClearChargingProfile" and status in (ACCEPTED, "Unknown"):
            # Unknown: the station had no such profile, which is what we wanted.
            slot.installed = None
            slot.failures = 0
            slot.retry_at = 0.0
            return
        if command.action == "SetChargingProfile" and status != "Offline":
            planner.writes_sent += 1
            planner.writes_accepted += status == ACCEPTED
        if status == ACCEPTED:
            slot.failures = 0
            slot.retry_at = 0.0
            profile = command.payload["csChargingProfiles"]
            slot.installed = Installed(
                purpose=command.purpose,
                connector_id=command.connector_id,
                profile_id=profile["chargingProfileId"],
                stack_level=profile["stackLevel"],
                limit_a=command.limit_a or 0.0,
                transaction_id=command.transaction_id,
                valid_to=command.valid_to,
                accepted_at=now,
            )
            if command.purpose in (TX_PROFILE, TX_DEFAULT_PROFILE) and command.connector_id > 0:
                planner.method = command.purpose
                planner.rewritten_at[command.connector_id] = now
                view = planner.connectors.setdefault(command.connector_id, ConnectorView())
                view.verify_due = True
                view.resend = None
                view.offered_above_since = None
            return
        if (
            command.purpose == TX_PROFILE
            and status in REFUSALS
            and planner.method != TX_PROFILE
            and not planner.tx_profile_refused
        ):
            # Never proven to take TxProfiles and refuses one: use a connector-level
            # TxDefaultProfile from now on, at once (no backoff: nothing was applied).
            planner.tx_profile_refused = True
            slot.failures = 0
            return
        slot.failures += 1
        slot.retry_at = now + min(
            self.settings.backoff_s * 2 ** (slot.failures - 1), self.settings.backoff_max_s
        )

    def _composite_result(
        self, command: Command, status: str, now: float, response: dict[str, Any] | None
    ) -> None:
        """Compare the composite schedule with what the station had accepted."""
        planner = self.station(command.station_id)
        view = planner.connectors.setdefault(command.connector_id, ConnectorView())
        view.verify_due = False
        view.composite_at = now
        answer = response or {}
        limit = profiles.composite_limit_a(answer, now) if status == ACCEPTED else None
        schedule = answer.get("chargingSchedule")
        view.composite_unit = (
            schedule.get("chargingRateUnit") if isinstance(schedule, dict) else None
        )
        view.composite_a = limit
        view.composite_known = limit is not None
        asked_in_unit = "chargingRateUnit" in command.payload
        view.verify_without_unit = False
        if limit is None:
            # No answer, or "no limit known in that unit" (−1): unknown, never 0 A. A station
            # that answered in a unit we took for its own (its capabilities not read yet, or
            # wrong) is asked once more without a unit: it then answers in its own.
            view.checked_a = None
            view.verification = UNKNOWN
            if status == ACCEPTED and asked_in_unit:
                view.verify_without_unit = True
                view.verify_due = True
            return
        expected = self._applies_a(command.station_id, command.connector_id, now)
        view.checked_a = expected
        if abs(limit - expected) <= self.settings.verify_tolerance_a:
            view.verification = AGREES
            view.mismatches = 0  # the last `mismatch` stays on view: it happened
            return
        self._disagrees(
            command.station_id,
            view,
            f"composite {limit:g} A, accepted {expected:g} A",
            limit > expected,
        )


@dataclass(frozen=True, slots=True)
class _Choice:
    kind: str
    build: Callable[[], Command]
    held: bool = False  # wanted, but held back by the flash bound


def _verify(station_id: str, connector_id: int, unit: str | None) -> Command:
    return Command(
        station_id,
        "GetCompositeSchedule",
        profiles.composite_request(connector_id, unit),
        VERIFY,
        connector_id,
    )


def _due(slot: Slot, now: float) -> bool:
    return slot.retry_at <= now


def _set(
    station_id: str,
    payload: dict[str, Any],
    kind: str,
    limit_a: float,
    transaction_id: int | None,
    valid_to: float | None,
    *,
    purpose: str | None = None,
) -> Command:
    profile = payload["csChargingProfiles"]
    return Command(
        station_id,
        "SetChargingProfile",
        payload,
        kind,
        payload["connectorId"],
        purpose or profile["chargingProfilePurpose"],
        limit_a,
        transaction_id,
        None if valid_to is None else float(int(valid_to)),
    )


def _clear(station_id: str, purpose: str, connector_id: int) -> Command:
    return Command(
        station_id,
        "ClearChargingProfile",
        profiles.clear_profile(purpose, connector_id),
        CLEAR,
        connector_id,
        purpose,
    )
