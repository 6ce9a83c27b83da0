"""Which alerts are active, from a snapshot of the system's state; pure (time passed in).

Table-tested in tests/alerts/test_rules.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

FAILED_FIRMWARE = ("DownloadFailed", "InstallationFailed")


@dataclass(frozen=True, slots=True)
class StationState:
    station_id: str
    online: bool
    last_seen: float | None
    """When it was last heard (its disconnect, for an offline station)."""
    site_id: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectorState:
    station_id: str
    connector_id: int
    status: str
    error_code: str
    meaning: str
    """The error's readable meaning (vendor code when known)."""
    since: float


@dataclass(frozen=True, slots=True)
class FirmwareState:
    station_id: str
    status: str
    at: float


@dataclass(frozen=True, slots=True)
class Alert:
    key: str
    """Stable identity: one alert per key while the condition holds."""
    kind: str
    """station-offline, connector-faulted, firmware-failed, site-safe-mode"""
    message: str
    since: float
    station_id: str | None = None
    site_id: str | None = None
    connector_id: int | None = None


def evaluate(
    stations: Iterable[StationState],
    connectors: Iterable[ConnectorState],
    firmware: Iterable[FirmwareState],
    safe_mode_sites: Mapping[str, float],
    offline_after_s: float,
    now: float,
) -> list[Alert]:
    """Every active alert, sorted by key. `safe_mode_sites`: site → since when."""
    alerts = []
    for s in stations:
        if not s.online and s.last_seen is not None and now - s.last_seen >= offline_after_s:
            minutes = (now - s.last_seen) / 60
            alerts.append(
                Alert(
                    f"station-offline:{s.station_id}",
                    "station-offline",
                    f"station {s.station_id} offline for {minutes:.0f} min",
                    s.last_seen,
                    s.station_id,
                    s.site_id,
                )
            )
    for c in connectors:
        if c.status == "Faulted":
            what = "station" if c.connector_id == 0 else f"connector {c.connector_id}"
            detail = f": {c.meaning}" if c.meaning else f" ({c.error_code})"
            alerts.append(
                Alert(
                    f"connector-faulted:{c.station_id}:{c.connector_id}",
                    "connector-faulted",
                    f"{c.station_id} {what} Faulted{detail}",
                    c.since,
                    c.station_id,
                    None,
                    c.connector_id,
                )
            )
    for f in firmware:
        if f.status in FAILED_FIRMWARE:
            alerts.append(
                Alert(
                    f"firmware-failed:{f.station_id}",
                    "firmware-failed",
                    f"firmware update of {f.station_id} failed: {f.status}",
                    f.at,
                    f.station_id,
                )
            )
    for site_id, since in safe_mode_sites.items():
        alerts.append(
            Alert(
                f"site-safe-mode:{site_id}",
                "site-safe-mode",
                f"site {site_id} in safe mode (meter lost or implausible)",
                since,
                site_id=site_id,
            )
        )
    return sorted(alerts, key=lambda a: a.key)


@dataclass(frozen=True, slots=True)
class Transitions:
    raised: tuple[Alert, ...]
    cleared: tuple[Alert, ...]


def transitions(previous: Mapping[str, Alert], current: Sequence[Alert]) -> Transitions:
    """Alerts that appeared and that ended since `previous` (a message change is no new alert)."""
    keys = {a.key for a in current}
    raised = tuple(a for a in current if a.key not in previous)
    cleared = tuple(a for k, a in sorted(previous.items()) if k not in keys)
    return Transitions(raised, cleared)
