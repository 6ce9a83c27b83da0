"""The public read model of a site loop: frozen records of what it decided and delivered.

`SiteLoop.read_model(now)` builds one on demand from the loop's parts (site model, planner, last
step, caps, meter health); the views (`csms.charging.views`), the API and the demo read these
records only, never the loop's internals, so the loop and the planner may change inside without
breaking a reader. Everything here is a copy: holding a `SiteRead` does not see later steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from balancing import Allocation, SocketAllocation
from csms.charging.limits import ConnectorKey, ConnectorLimit, LocalLimits, OperatorCaps
from csms.charging.model import SiteModel
from csms.charging.planner import ConnectorView, DeliveryPlanner, Installed
from csms.charging.plausibility import MeterCheck
from csms.charging.profiles import ProfileCapabilities
from csms.charging.writer import LimitWriter
from csms.settings import SiteSettings


@dataclass(frozen=True, slots=True)
class VerificationRead:
    """What proves a connector's limit: the composite schedule against the limit the station had
    accepted when it was read, and Current.Offered (see `planner.ConnectorView`)."""

    composite_a: float | None
    composite_at: float | None
    composite_known: bool
    composite_unit: str | None
    checked_a: float | None
    verification: str
    mismatch: str | None
    mismatches: int
    offered_a: float | None


@dataclass(frozen=True, slots=True)
class ConnectorRead:
    """One connector: its state, the balancer's allocation, the composed limit and delivery."""

    station_id: str
    connector_id: int
    status: str | None
    transaction_id: int | None
    measured_grid_a: tuple[float, float, float] | None
    allocation: SocketAllocation | None
    limit: ConnectorLimit | None
    accepted_a: float | None
    """The limit the station applies now (or its safe default); None while not charging."""
    verification: VerificationRead
    last_status: str | None
    """The station's answer to our last transaction profile for this connector."""
    failures: int
    modbus: Mapping[str, Any] | None = None
    """The socket's values read over the station's Modbus slave (control = "modbus")."""


@dataclass(frozen=True, slots=True)
class StationRead:
    """One station of the site: how limits reach it and what is installed on it."""

    id: str
    method: str | None
    """Proven: TxProfile or TxDefaultProfile (None until the station accepted one)."""
    tx_profile_refused: bool
    capabilities: ProfileCapabilities
    capabilities_read: bool
    """Read in its current connection (no profile goes out before)."""
    local_limits: LocalLimits | None
    meter_lost: bool
    safe_default_a: float
    safe_sockets: tuple[tuple[int, float], ...]
    """(socket, its safe default) for each socket."""
    cap_a: float | None
    writes_sent: int
    writes_accepted: int
    installed: tuple[Installed, ...]
    """Profiles the station accepted, by (connector, purpose)."""
    connectors: tuple[ConnectorRead, ...]
    modbus: Mapping[str, Any] | None = None
    """The station's Modbus path (link, refusal, errors); None when it has none."""
    modbus_controlled: bool = False
    """Its limits go through the Modbus writer now, not OCPP profiles."""
    proven_method: str | None = None
    """The delivery method its answers proved ("modbus" once a setpoint was read back)."""


@dataclass(frozen=True, slots=True)
class SiteRead:
    """A site at `now`: the meter, the last control step and every station and connector."""

    now: float
    site: SiteSettings
    meter_health: Mapping[str, object]
    """The poller's health snapshot (state, since, age_s, last_reading, last_error, errors)."""
    updated_at: float | None
    """When the last control step ran (None before the first)."""
    allocation: Allocation | None
    allocated_a: tuple[float, ...]
    """Sum of the targets per grid phase."""
    safe_default_a: float
    checks_meter: bool
    meter_check: MeterCheck
    caps: OperatorCaps
    max_resends: int
    stations: tuple[StationRead, ...]
    connectors: tuple[ConnectorRead, ...]

    def station(self, station_id: str) -> StationRead | None:
        return next((s for s in self.stations if s.id == station_id), None)


def meter_state(site: SiteSettings, health: Mapping[str, object]) -> Mapping[str, object]:
    """The meter's health; a site without a meter says so instead of "stale"."""
    if site.meter.type == "none":
        return {**health, "state": "none"}
    return health


def _verification(view: ConnectorView | None) -> VerificationRead:
    v = ConnectorView() if view is None else view
    return VerificationRead(
        composite_a=v.composite_a,
        composite_at=v.composite_at,
        composite_known=v.composite_known,
        composite_unit=v.composite_unit,
        checked_a=v.checked_a,
        verification=v.verification,
        mismatch=v.mismatch,
        mismatches=v.mismatches,
        offered_a=v.offered_a,
    )


def _connector_keys(model: SiteModel) -> list[ConnectorKey]:
    keys: set[ConnectorKey] = set()
    for sid in model.station_ids:
        keys.update((sid, c) for c in model.sockets_of(sid))
    keys.update(k for k in model.connectors if k[1] > 0)
    return sorted(k for k in keys if k[0] in model.station_ids)


@dataclass(frozen=True, slots=True)
class LoopParts:
    """The parts of a site loop a read model is built from (handed over by `SiteLoop`)."""

    site: SiteSettings
    model: SiteModel
    planner: DeliveryPlanner
    allocation: Allocation | None
    limits: Mapping[ConnectorKey, ConnectorLimit]
    updated_at: float | None
    meter_health: Mapping[str, object]
    checks_meter: bool
    meter_check: MeterCheck
    caps: OperatorCaps
    ready: frozenset[str]
    writer: LimitWriter | None = None
    methods: Mapping[str, str | None] = field(default_factory=dict)


def build_read_model(parts: LoopParts, now: float) -> SiteRead:
    """Copy what the loop decided and delivered into frozen records."""
    model, planner, writer = parts.model, parts.planner, parts.writer
    allocations = {} if parts.allocation is None else parts.allocation.by_key()

    def connector(key: ConnectorKey) -> ConnectorRead:
        station_id, connector_id = key
        state = model.connectors.get(key)
        plan = planner.station(station_id)
        slot = plan.slots.get((connector_id, plan.tx_purpose))
        charging = state is not None and state.transaction_id is not None
        return ConnectorRead(
            station_id=station_id,
            connector_id=connector_id,
            status=None if state is None else state.status,
            transaction_id=None if state is None else state.transaction_id,
            measured_grid_a=None if state is None else state.measured_grid_a,
            allocation=allocations.get(key),
            limit=parts.limits.get(key),
            accepted_a=planner.effective_a(station_id, connector_id, now) if charging else None,
            verification=_verification(plan.connectors.get(connector_id)),
            last_status=None if slot is None else slot.last_status,
            failures=0 if slot is None else slot.failures,
            modbus=None if writer is None else writer.socket_view(station_id, connector_id),
        )

    connectors = tuple(connector(key) for key in _connector_keys(model))
    phases = 3 if parts.site.phases == 3 else 1
    totals = [0.0] * phases
    for key, limit in parts.limits.items():
        alloc = allocations.get(key)
        for phase in () if alloc is None else alloc.phases:
            totals[phase - 1] += limit.value_a

    def station(station_id: str) -> StationRead:
        plan = planner.station(station_id)
        return StationRead(
            id=station_id,
            method=plan.method,
            tx_profile_refused=plan.tx_profile_refused,
            capabilities=plan.caps,
            capabilities_read=station_id in parts.ready,
            local_limits=model.local.get(station_id),
            meter_lost=station_id in model.meter_lost,
            safe_default_a=plan.safe_limit_a,
            safe_sockets=tuple(
                (c, plan.safe_sockets.get(c, plan.safe_limit_a))
                for c in model.sockets_of(station_id)
            ),
            cap_a=plan.cap_a,
            writes_sent=plan.writes_sent,
            writes_accepted=plan.writes_accepted,
            installed=tuple(
                slot.installed
                for _, slot in sorted(plan.slots.items())
                if slot.installed is not None
            ),
            connectors=tuple(c for c in connectors if c.station_id == station_id),
            modbus=None if writer is None else writer.station_view(station_id),
            modbus_controlled=writer is not None and writer.controls(station_id),
            proven_method=parts.methods.get(station_id),
        )

    return SiteRead(
        now=now,
        site=parts.site,
        meter_health=meter_state(parts.site, parts.meter_health),
        updated_at=parts.updated_at,
        allocation=parts.allocation,
        allocated_a=tuple(totals),
        safe_default_a=model.safe_default_a(),
        checks_meter=parts.checks_meter,
        meter_check=parts.meter_check,
        caps=parts.caps,
        max_resends=planner.settings.max_resends,
        stations=tuple(station(sid) for sid in model.station_ids),
        connectors=connectors,
    )
