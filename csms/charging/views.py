"""JSON-ready views of a site loop for the API, the CLI and the demo (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from csms.charging.limits import ConnectorKey
from csms.charging.loop import SiteLoop
from csms.charging.planner import AGREES, GAVE_UP, RESENT, UNKNOWN, ConnectorView
from csms.charging.profiles import TX_DEFAULT_PROFILE, TX_PROFILE


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def connector_view(
    loop: SiteLoop, key: ConnectorKey, now: float, allocations: Mapping[ConnectorKey, Any]
) -> dict[str, Any]:
    """One connector: state, allocation, target with its binding source, accepted, composite."""
    station_id, connector_id = key
    state = loop.model.connectors.get(key)
    step = loop.last
    allocation = allocations.get(key)
    limit = step.limits.get(key) if step is not None else None
    planner = loop.planner.station(station_id)
    slot = planner.slots.get((connector_id, planner.tx_purpose))
    charging = state is not None and state.transaction_id is not None
    return {
        "station_id": station_id,
        "connector_id": connector_id,
        "status": None if state is None else state.status,
        "transaction_id": None if state is None else state.transaction_id,
        "measured_a": None if state is None or state.measured_grid_a is None
        else [round(v, 2) for v in state.measured_grid_a],
        "phases": [] if allocation is None else [p.name for p in allocation.phases],
        "allocation_a": None if allocation is None else allocation.limit_a,
        "allocation_source": None if allocation is None else allocation.binding.source.value,
        "allocation_detail": None if allocation is None else allocation.binding.detail,
        "target_a": None if limit is None else _r(limit.value_a),
        "source": None if limit is None else limit.source,
        "detail": None if limit is None else limit.detail,
        "candidates": []
        if limit is None
        else [
            {"source": c.source, "detail": c.detail, "limit_a": _r(c.value_a)}
            for c in limit.candidates
        ],
        "predicted_a": None if limit is None or limit.predicted is None
        else _r(limit.predicted.value_a),
        "predicted_source": None if limit is None or limit.predicted is None
        else limit.predicted.source,
        "accepted_a": loop.planner.effective_a(station_id, connector_id, now) if charging else None,
        **verification(loop, station_id, connector_id),
        "last_status": None if slot is None else slot.last_status,
        "failures": 0 if slot is None else slot.failures,
    }  # fmt: skip


def verification(loop: SiteLoop, station_id: str, connector_id: int) -> dict[str, Any]:
    """What proves the connector's limit: the composite schedule (in A whatever unit the station
    answered in, or "unknown") against the limit it had accepted, and Current.Offered."""
    planner = loop.planner.station(station_id)
    view = planner.connectors.get(connector_id)
    if view is None:
        view = ConnectorView()
    composite: float | str | None = view.composite_a
    if view.composite_at is not None and not view.composite_known:
        composite = UNKNOWN
    agrees = None
    if view.verification == AGREES:
        agrees = True
    elif view.verification in (RESENT, GAVE_UP):
        agrees = False
    state = view.verification
    if state == GAVE_UP:
        state = f"{GAVE_UP} after {loop.planner.settings.max_resends} re-sends"
    return {
        "composite_a": composite,
        "composite_unit": view.composite_unit,
        "composite_at": view.composite_at,
        "sent_a": view.checked_a,
        "agrees": agrees,
        "verification": state,
        "mismatch": view.mismatch,
        "mismatches": view.mismatches,
        "offered_a": view.offered_a,
    }


def safe_sockets(loop: SiteLoop, station_id: str) -> list[dict[str, Any]]:
    """Each socket's safe default (connector 0's unless the socket has its own)."""
    planner = loop.planner.station(station_id)
    return [
        {"connector_id": c, "limit_a": planner.safe_sockets.get(c, planner.safe_limit_a)}
        for c in loop.model.sockets_of(station_id)
    ]


def profile_writes(loop: SiteLoop, station_id: str) -> dict[str, int]:
    """SetChargingProfile calls sent to the station and accepted (each may be a flash write)."""
    planner = loop.planner.station(station_id)
    return {"sent": planner.writes_sent, "accepted": planner.writes_accepted}


def _allocations(loop: SiteLoop) -> Mapping[ConnectorKey, Any]:
    return {} if loop.last is None else loop.last.allocation.by_key()


def _connector_keys(loop: SiteLoop, station_id: str | None = None) -> list[ConnectorKey]:
    keys: set[ConnectorKey] = set()
    for sid in loop.model.station_ids:
        if station_id is None or sid == station_id:
            keys.update((sid, c) for c in loop.model.sockets_of(sid))
    keys.update(k for k in loop.model.connectors if station_id in (None, k[0]) and k[1] > 0)
    return sorted(k for k in keys if k[0] in loop.model.station_ids)


def site_view(loop: SiteLoop, now: float) -> dict[str, Any]:
    """`GET /api/v1/sites/{id}`: meter, headroom, and every connector's limit and source."""
    s = loop.site
    step = loop.last
    allocation = None if step is None else step.allocation
    allocations = _allocations(loop)
    totals = [0.0] * (3 if s.phases == 3 else 1)
    for key, limit in ({} if step is None else step.limits).items():
        alloc = allocations.get(key)
        for phase in () if alloc is None else alloc.phases:
            totals[phase - 1] += limit.value_a
    caps = loop.caps
    return {
        "id": s.id,
        "mode": s.mode,
        "grid_limit_a": s.grid_limit_a,
        "margin_a": s.margin_a,
        "phases": s.phases,
        "safe_current_a": s.safe_current_a,
        "meter_includes_ev": s.meter_includes_ev,
        "meter": {"type": s.meter.type, **meter_health(loop, now)},
        "updated_at": None if step is None else step.at,
        "safe_mode": None if allocation is None else allocation.safe_mode,
        "safe_reason": None if allocation is None else allocation.safe_reason,
        "meter_check": meter_check_view(loop),
        "available_a": None if allocation is None else [_r(a) for a in allocation.available_a],
        "other_load_a": None
        if allocation is None or allocation.other_load_a is None
        else [_r(a) for a in allocation.other_load_a],
        "allocated_a": [_r(t) for t in totals],
        "safe_default_a": _r(loop.model.safe_default_a()),
        "caps": {
            "site_a": caps.site_a,
            "stations": dict(caps.station_a),
            "connectors": [
                {"station_id": k[0], "connector_id": k[1], "limit_a": v}
                for k, v in sorted(caps.connector_a.items())
            ],
        },
        "stations": [
            {
                "id": sid,
                "method": method_label(loop, sid),
                "meter_lost": sid in loop.model.meter_lost,
                "safe_default_a": loop.planner.station(sid).safe_limit_a,
                # No profile goes out before the capabilities are read in this connection.
                "capabilities_read": loop.is_ready(sid),
                "safe_sockets": safe_sockets(loop, sid),
                "profile_writes": profile_writes(loop, sid),
            }
            for sid in loop.model.station_ids
        ],
        "connectors": [
            connector_view(loop, key, now, allocations) for key in _connector_keys(loop)
        ],
    }  # fmt: skip


def meter_check_view(loop: SiteLoop) -> dict[str, Any]:
    """Whether the grid meter shows the EVs it should include (the plausibility alarm)."""
    check = loop.meter_check
    return {
        "enabled": loop.checks_meter,
        "alarm": check.alarm,
        "raised_at": check.raised_at,
        "message": check.message or None,
        "implausible_readings": check.implausible,
        "shortfall_a": [_r(a) for a in check.shortfall_a],
        "tolerance_a": loop.site.meter_check_tolerance_a,
        "pv_export_max_a": loop.site.pv_export_a,
    }


def method_label(loop: SiteLoop, station_id: str) -> str | None:
    """How limits reach the station, as proven by its answers."""
    planner = loop.planner.station(station_id)
    if planner.method == TX_PROFILE:
        return TX_PROFILE
    if planner.tx_profile_refused:
        suffix = "" if planner.method == TX_DEFAULT_PROFILE else ", not yet accepted"
        return f"{TX_DEFAULT_PROFILE} per connector (TxProfile rejected{suffix})"
    return None


def station_view(loop: SiteLoop, station_id: str, now: float) -> dict[str, Any]:
    """`GET /api/v1/stations/{id}/charging`."""
    planner = loop.planner.station(station_id)
    local = loop.model.local.get(station_id)
    allocations = _allocations(loop)
    installed = [
        {
            "charging_profile_id": slot.installed.profile_id,
            "purpose": slot.installed.purpose,
            "connector_id": slot.installed.connector_id,
            "stack_level": slot.installed.stack_level,
            "limit_a": slot.installed.limit_a,
            "transaction_id": slot.installed.transaction_id,
            "valid_to": slot.installed.valid_to,
            "accepted_at": slot.installed.accepted_at,
            "expired": slot.installed.valid_to is not None and slot.installed.valid_to <= now,
        }
        for (_, _), slot in sorted(planner.slots.items())
        if slot.installed is not None
    ]
    return {
        "station_id": station_id,
        "site_id": loop.site.id,
        "method": method_label(loop, station_id),
        "capabilities": asdict(planner.caps),
        "local_limits": None
        if local is None
        else {**asdict(local), "connector_max_a": dict(local.connector_max_a)},
        "meter_lost": station_id in loop.model.meter_lost,
        "safe_default_a": planner.safe_limit_a,
        "safe_sockets": safe_sockets(loop, station_id),
        "profile_writes": profile_writes(loop, station_id),
        "cap_a": planner.cap_a,
        "connectors": [
            connector_view(loop, key, now, allocations)
            for key in _connector_keys(loop, station_id)
        ],
        "installed_profiles": installed,
    }  # fmt: skip


def meter_health(loop: SiteLoop, now: float) -> dict[str, Any]:
    """The meter's health for the API; a site without a meter says so instead of "stale"."""
    health = loop.poller.health.snapshot(now)
    if loop.site.meter.type == "none":
        health["state"] = "none"
    return health
