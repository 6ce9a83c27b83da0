"""Prometheus series of the site's state, refreshed at every alert evaluation: stations
online/offline, connectors by status, active transactions, energy delivered, active alerts;
and SetChargingProfile outcomes per site (from the charging service's result hook)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import Counter, Gauge

from csms.alerts.rules import Alert
from csms.reports.energy import ENERGY_WH
from csms.storage import Store

STATIONS = Gauge("csms_stations", "Accepted stations by connection state", ["state"])
CONNECTORS = Gauge("csms_connectors", "Connectors by their latest reported status", ["status"])
TRANSACTIONS_ACTIVE = Gauge("csms_transactions_active", "Transactions without a stop")
ENERGY_DELIVERED = Gauge(
    "csms_energy_delivered_wh",
    "Energy of every closed transaction in Wh (as the energy report counts it)",
)
ALERTS_ACTIVE = Gauge("csms_alerts_active", "Active alerts by kind", ["kind"])
PROFILES = Counter(
    "csms_site_profiles",
    "SetChargingProfile answers per site: sent (answered at all) and rejected (not Accepted)",
    ["site", "outcome"],
)
STATUSES = (
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEVSE",
    "SuspendedEV",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
)
ALERT_KINDS = ("station-offline", "connector-faulted", "firmware-failed", "site-safe-mode")


def on_charging_result(site_id: str, command: Any, status: str, _at: float) -> None:
    """The charging service's result hook: count profiles sent and rejected per site."""
    if command.action != "SetChargingProfile" or status == "Offline":
        return
    PROFILES.labels(site_id or "none", "sent").inc()
    if status != "Accepted":
        PROFILES.labels(site_id or "none", "rejected").inc()


async def refresh(store: Store, online: Callable[[str], bool], alerts: Iterable[Alert]) -> None:
    """Recompute the gauges from the stored state."""
    accepted = [s for s in await store.stations.all() if s.status == "accepted"]
    up = sum(1 for s in accepted if online(s.id))
    STATIONS.labels("online").set(up)
    STATIONS.labels("offline").set(len(accepted) - up)
    statuses: Tally[str] = Tally()
    for s in accepted:
        statuses.update(c.status for c in await store.stations.connectors(s.id))
    for status in {*STATUSES, *statuses}:
        CONNECTORS.labels(status).set(statuses.get(status, 0))
    TRANSACTIONS_ACTIVE.set(
        await store.db.fetchval("SELECT COUNT(*) FROM transactions WHERE meter_stop IS NULL")
    )
    energy = await store.db.fetchval(
        f"SELECT COALESCE(SUM({ENERGY_WH}), 0) FROM transactions t WHERE t.meter_stop IS NOT NULL"
    )
    ENERGY_DELIVERED.set(float(energy))
    kinds = Tally(a.kind for a in alerts)
    for kind in ALERT_KINDS:
        ALERTS_ACTIVE.labels(kind).set(kinds.get(kind, 0))
