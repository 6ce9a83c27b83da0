"""Prometheus series of the site's state, refreshed at every alert evaluation: stations
online/offline, connectors by status, active transactions, energy delivered, active alerts;
and SetChargingProfile outcomes per site (from the charging service's result hook)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import Counter, Gauge

from csms.alerts.rules import Alert
from csms.reports.energy import ENERGY_WH
from csms.storage import Database
from csms.storage.records import ConnectorRecord, StationRecord

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


class SiteGauges:
    """Sets the gauges at every alert evaluation from the rows the evaluation read (stations and
    connectors: no query of its own) and one count of the transactions.

    The energy total sums every closed transaction; it is summed again only when the number of
    closed transactions changed, as closing a transaction is the only write that changes it
    (a stop is final: a repeated StopTransaction changes nothing).
    """

    def __init__(self) -> None:
        self._closed: int | None = None

    async def refresh(
        self,
        db: Database,
        stations: Sequence[StationRecord],
        connectors: Iterable[ConnectorRecord],
        online: Callable[[str], bool],
        alerts: Iterable[Alert],
    ) -> None:
        """`stations`: the accepted ones; `connectors`: theirs."""
        up = sum(1 for s in stations if online(s.id))
        STATIONS.labels("online").set(up)
        STATIONS.labels("offline").set(len(stations) - up)
        statuses = Tally(c.status for c in connectors)
        for status in {*STATUSES, *statuses}:
            CONNECTORS.labels(status).set(statuses.get(status, 0))
        (row,) = await db.fetch(
            "SELECT COUNT(*) - COUNT(meter_stop) AS open_count, COUNT(meter_stop) AS closed_count "
            "FROM transactions"
        )
        TRANSACTIONS_ACTIVE.set(int(row["open_count"]))
        if int(row["closed_count"]) != self._closed:
            energy = await db.fetchval(
                f"SELECT COALESCE(SUM({ENERGY_WH}), 0) FROM transactions t "
                "WHERE t.meter_stop IS NOT NULL"
            )
            ENERGY_DELIVERED.set(float(energy))
            self._closed = int(row["closed_count"])
        kinds = Tally(a.kind for a in alerts)
        for kind in ALERT_KINDS:
            ALERTS_ACTIVE.labels(kind).set(kinds.get(kind, 0))
