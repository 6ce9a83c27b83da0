"""Plain-data (JSON/YAML/TOML-shaped) forms of the balancer's inputs and results.

For scenario files, fixtures, benchmarks and the API: `site_from_dict`, `session_from_dict`,
`reading_from_dict` build the frozen inputs (raising ValueError that names the bad field), and
`allocation_to_dict` gives a JSON-ready view of a result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model import (
    Circuit,
    GridReading,
    Mode,
    PvSurplus,
    Session,
    Site,
    Socket,
    Station,
    TimeWindow,
    rotation_of,
)
from .result import Allocation, SocketAllocation
from .sources import LimitSource


def _fields(data: Mapping[str, Any], allowed: set[str], what: str) -> None:
    if not isinstance(data, Mapping):
        raise ValueError(f"{what} must be a mapping, not {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"{what}: unknown field(s) {', '.join(unknown)}")


def _triple(value: Any, what: str) -> tuple[float, float, float]:
    values = tuple(float(v) for v in value)
    if len(values) != 3:
        raise ValueError(f"{what} needs three values (L1, L2, L3), not {len(values)}")
    return values[0], values[1], values[2]


def socket_from_dict(data: Mapping[str, Any]) -> Socket:
    _fields(
        data,
        {
            "connector_id",
            "max_current_a",
            "socket_id",
            "min_current_a",
            "phase_rotation",
            "max_source",
        },
        "socket",
    )
    return Socket(
        connector_id=int(data["connector_id"]),
        max_current_a=float(data["max_current_a"]),
        socket_id=None if data.get("socket_id") is None else int(data["socket_id"]),
        min_current_a=None if data.get("min_current_a") is None else float(data["min_current_a"]),
        phase_rotation=rotation_of(data.get("phase_rotation")),
        max_source=_source(data.get("max_source", LimitSource.CONNECTOR_MAX), "socket"),
    )


def _source(value: Any, what: str) -> LimitSource:
    """A LimitSource by its text (e.g. "operator cap (connector)"); ValueError names the choices."""
    try:
        return LimitSource(value)
    except ValueError:
        names = ", ".join(repr(v.value) for v in LimitSource)
        raise ValueError(f"{what}: source must be one of {names}, not {value!r}") from None


def station_from_dict(data: Mapping[str, Any]) -> Station:
    allowed = {
        "id",
        "max_current_a",
        "sockets",
        "phase_rotation",
        "circuit_id",
        "internal_rotation",
        "dual_feeder",
        "max_source",
    }
    _fields(data, allowed, f"station {data.get('id', '?')}")
    return Station(
        id=str(data["id"]),
        max_current_a=float(data["max_current_a"]),
        sockets=tuple(socket_from_dict(s) for s in data["sockets"]),
        phase_rotation=rotation_of(data.get("phase_rotation")),
        circuit_id=data.get("circuit_id"),
        internal_rotation=data.get("internal_rotation"),
        dual_feeder=bool(data.get("dual_feeder", False)),
        max_source=_source(data.get("max_source", LimitSource.STATION_MAX), "station"),
    )


def pv_from_dict(data: Mapping[str, Any]) -> PvSurplus:
    allowed = {
        "start_hold_s",
        "stop_delay_s",
        "hysteresis_a",
        "min_charge_a",
        "boost_windows",
        "utc_offset_s",
    }
    _fields(data, allowed, "pv")
    values = {k: float(v) for k, v in data.items() if k != "boost_windows"}
    windows = tuple(TimeWindow.parse(w) for w in data.get("boost_windows", ()))
    return PvSurplus(boost_windows=windows, **values)


_SITE_FLOATS = {
    "grid_limit_a",
    "margin_a",
    "safe_current_a",
    "meter_timeout_s",
    "min_current_a",
    "alternating_period_s",
    "underuse_threshold_a",
    "underuse_after_s",
    "phase_detect_s",
    "release_retry_s",
}


def site_from_dict(data: Mapping[str, Any]) -> Site:
    """A Site from a mapping with the same field names (stations/circuits/pv nested)."""
    allowed = _SITE_FLOATS | {
        "id",
        "phases",
        "meter_includes_ev",
        "mode",
        "pv",
        "ramp_a_per_s",
        "release_after_s",
        "cap_a",
        "sharing",
        "circuits",
        "stations",
    }
    _fields(data, allowed, "site")
    kwargs: dict[str, Any] = {k: float(data[k]) for k in _SITE_FLOATS if k in data}
    for key in ("ramp_a_per_s", "release_after_s", "cap_a"):  # None turns them off
        if key in data:
            value = data[key]
            kwargs[key] = None if value is None else float(value)
    if "sharing" in data:
        kwargs["sharing"] = data["sharing"]  # Site checks it and names the accepted values
    for key in ("id", "meter_includes_ev"):
        if key in data:
            kwargs[key] = data[key]
    if "phases" in data:
        kwargs["phases"] = int(data["phases"])
    if "mode" in data:
        kwargs["mode"] = Mode(data["mode"])
    if "pv" in data:
        kwargs["pv"] = pv_from_dict(data["pv"])
    kwargs["circuits"] = tuple(
        Circuit(
            str(c["id"]),
            float(c["limit_a"]),
            c.get("parent"),
            _source(c.get("source", LimitSource.CIRCUIT), f"circuit {c['id']}"),
        )
        for c in data.get("circuits", ())
    )
    kwargs["stations"] = tuple(station_from_dict(s) for s in data.get("stations", ()))
    return Site(**kwargs)


def session_from_dict(data: Mapping[str, Any]) -> Session:
    """A Session; `key` is `[station, connector]` or `"station/connector"`."""
    allowed = {
        "key",
        "started_at",
        "ev_max_current_a",
        "measured_a",
        "charging",
        "min_current_a",
        "phases_hint",
        "measured_at",
        "departure_at",
        "energy_to_go_kwh",
    }
    _fields(data, allowed, "session")
    key = data["key"]
    if isinstance(key, str):
        station, _, connector = key.rpartition("/")
        key = (station, int(connector))
    measured = data.get("measured_a")
    return Session(
        key=(str(key[0]), int(key[1])),
        started_at=float(data.get("started_at", 0.0)),
        ev_max_current_a=None
        if data.get("ev_max_current_a") is None
        else float(data["ev_max_current_a"]),
        measured_a=None if measured is None else _triple(measured, "measured_a"),
        charging=bool(data.get("charging", True)),
        min_current_a=None if data.get("min_current_a") is None else float(data["min_current_a"]),
        phases_hint=None if data.get("phases_hint") is None else int(data["phases_hint"]),
        measured_at=None if data.get("measured_at") is None else float(data["measured_at"]),
        departure_at=None if data.get("departure_at") is None else float(data["departure_at"]),
        energy_to_go_kwh=None
        if data.get("energy_to_go_kwh") is None
        else float(data["energy_to_go_kwh"]),
    )


def reading_from_dict(data: Mapping[str, Any]) -> GridReading:
    _fields(data, {"at", "current_a", "power_w", "voltage_v"}, "reading")
    return GridReading(
        at=float(data["at"]),
        current_a=_triple(data["current_a"], "current_a"),
        power_w=None if data.get("power_w") is None else _triple(data["power_w"], "power_w"),
        voltage_v=None
        if data.get("voltage_v") is None
        else _triple(data["voltage_v"], "voltage_v"),
    )


def socket_allocation_to_dict(a: SocketAllocation) -> dict[str, Any]:
    return {
        "station_id": a.socket_key[0],
        "connector_id": a.socket_key[1],
        "limit_a": a.limit_a,
        "target_a": a.target_a,
        "min_current_a": a.min_current_a,
        "phases": [p.name for p in a.phases],
        "binding": {"source": a.binding.source.value, "detail": a.binding.detail},
    }


def allocation_to_dict(a: Allocation) -> dict[str, Any]:
    """A JSON-ready view of an allocation (without the internal state)."""
    return {
        "at": a.at,
        "mode": a.mode.value,
        "safe_mode": a.safe_mode,
        "safe_reason": a.safe_reason,
        "boosting": a.boosting,
        "available_a": list(a.available_a),
        "other_load_a": None if a.other_load_a is None else list(a.other_load_a),
        "pv_surplus_a": a.pv_surplus_a,
        "swap_at": a.swap_at,
        "sockets": [socket_allocation_to_dict(s) for s in a.sockets],
    }
