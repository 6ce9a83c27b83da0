"""JSON-ready views of a site's read model for the API and the CLI (no I/O).

They render `csms.charging.readmodel` records only (from `SiteLoop.read_model`), never the loop,
its site model or its planner.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from csms.charging.planner import AGREES, GAVE_UP, RESENT, UNKNOWN
from csms.charging.profiles import TX_DEFAULT_PROFILE, TX_PROFILE
from csms.charging.readmodel import (
    ConnectorRead,
    SiteRead,
    StationRead,
    VerificationRead,
)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def connector_view(c: ConnectorRead, max_resends: int) -> dict[str, Any]:
    """One connector: state, allocation, target with its binding source, accepted, composite."""
    allocation, limit = c.allocation, c.limit
    return {
        "station_id": c.station_id,
        "connector_id": c.connector_id,
        "status": c.status,
        "transaction_id": c.transaction_id,
        "measured_a": None if c.measured_grid_a is None
        else [round(v, 2) for v in c.measured_grid_a],
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
            {"source": k.source, "detail": k.detail, "limit_a": _r(k.value_a)}
            for k in limit.candidates
        ],
        "predicted_a": None if limit is None or limit.predicted is None
        else _r(limit.predicted.value_a),
        "predicted_source": None if limit is None or limit.predicted is None
        else limit.predicted.source,
        "accepted_a": c.accepted_a,
        **verification(c.verification, max_resends),
        "last_status": c.last_status,
        "failures": c.failures,
        # Read over the station's Modbus slave (control = "modbus"), next to the OCPP values.
        "modbus": c.modbus,
    }  # fmt: skip


def verification(view: VerificationRead, max_resends: int) -> dict[str, Any]:
    """What proves the connector's limit: the composite schedule (in A whatever unit the station
    answered in, or "unknown") against the limit it had accepted, and Current.Offered."""
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
        state = f"{GAVE_UP} after {max_resends} re-sends"
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


def safe_sockets(station: StationRead) -> list[dict[str, Any]]:
    """Each socket's safe default (connector 0's unless the socket has its own)."""
    return [{"connector_id": c, "limit_a": limit} for c, limit in station.safe_sockets]


def profile_writes(station: StationRead) -> dict[str, int]:
    """SetChargingProfile calls sent to the station and accepted (each may be a flash write)."""
    return {"sent": station.writes_sent, "accepted": station.writes_accepted}


def site_view(read: SiteRead) -> dict[str, Any]:
    """`GET /api/v1/sites/{id}`: meter, headroom, and every connector's limit and source."""
    s = read.site
    allocation = read.allocation
    caps = read.caps
    return {
        "id": s.id,
        "mode": s.mode,
        "grid_limit_a": s.grid_limit_a,
        "margin_a": s.margin_a,
        "phases": s.phases,
        "safe_current_a": s.safe_current_a,
        "meter_includes_ev": s.meter_includes_ev,
        "meter": {"type": s.meter.type, **read.meter_health},
        "updated_at": read.updated_at,
        "safe_mode": None if allocation is None else allocation.safe_mode,
        "safe_reason": None if allocation is None else allocation.safe_reason,
        "meter_check": meter_check_view(read),
        "available_a": None if allocation is None else [_r(a) for a in allocation.available_a],
        "other_load_a": None
        if allocation is None or allocation.other_load_a is None
        else [_r(a) for a in allocation.other_load_a],
        "allocated_a": [_r(t) for t in read.allocated_a],
        "safe_default_a": _r(read.safe_default_a),
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
                "id": st.id,
                "method": method_label(st),
                "meter_lost": st.meter_lost,
                "safe_default_a": st.safe_default_a,
                "modbus": st.modbus,
                # No profile goes out before the capabilities are read in this connection.
                "capabilities_read": st.capabilities_read,
                "safe_sockets": safe_sockets(st),
                "profile_writes": profile_writes(st),
            }
            for st in read.stations
        ],
        "connectors": [connector_view(c, read.max_resends) for c in read.connectors],
    }  # fmt: skip


def meter_check_view(read: SiteRead) -> dict[str, Any]:
    """Whether the grid meter shows the EVs it should include (the plausibility alarm)."""
    check = read.meter_check
    return {
        "enabled": read.checks_meter,
        "alarm": check.alarm,
        "raised_at": check.raised_at,
        "message": check.message or None,
        "implausible_readings": check.implausible,
        "shortfall_a": [_r(a) for a in check.shortfall_a],
        "tolerance_a": read.site.meter_check_tolerance_a,
        "pv_export_max_a": read.site.pv_export_a,
    }


def method_label(station: StationRead) -> str | None:
    """How limits reach the station, as proven by its answers."""
    if station.modbus_controlled:
        return station.proven_method
    if station.method == TX_PROFILE:
        return TX_PROFILE
    if station.tx_profile_refused:
        suffix = "" if station.method == TX_DEFAULT_PROFILE else ", not yet accepted"
        return f"{TX_DEFAULT_PROFILE} per connector (TxProfile rejected{suffix})"
    return None


def station_view(read: SiteRead, station: StationRead) -> dict[str, Any]:
    """`GET /api/v1/stations/{id}/charging`."""
    now = read.now
    local = station.local_limits
    installed = [
        {
            "charging_profile_id": p.profile_id,
            "purpose": p.purpose,
            "connector_id": p.connector_id,
            "stack_level": p.stack_level,
            "limit_a": p.limit_a,
            "transaction_id": p.transaction_id,
            "valid_to": p.valid_to,
            "accepted_at": p.accepted_at,
            "expired": p.valid_to is not None and p.valid_to <= now,
        }
        for p in station.installed
    ]
    return {
        "station_id": station.id,
        "site_id": read.site.id,
        "method": method_label(station),
        "modbus": station.modbus,
        "capabilities": asdict(station.capabilities),
        "local_limits": None
        if local is None
        else {**asdict(local), "connector_max_a": dict(local.connector_max_a)},
        "meter_lost": station.meter_lost,
        "safe_default_a": station.safe_default_a,
        "safe_sockets": safe_sockets(station),
        "profile_writes": profile_writes(station),
        "cap_a": station.cap_a,
        "connectors": [connector_view(c, read.max_resends) for c in station.connectors],
        "installed_profiles": installed,
    }  # fmt: skip
