"""Prometheus series of the cluster (served by the API's `/metrics`, docs/operations.md)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

FORWARDED = Counter(
    "csms_cluster_forwarded_calls",
    "CALLs this node forwarded to the node holding the station, per outcome",
    ["outcome"],  # answered, CallErrorReceived, CallTimeout, StationOffline, NotHeld, rerouted…
)
RELAYED = Counter(
    "csms_cluster_events_relayed",
    "Domain events sent to other nodes (sent), sent to none (kept: MeterValues of a site led "
    "here or of no site) or received from them (received)",
    ["direction"],
)
LIVE_NODES = Gauge("csms_cluster_live_nodes", "Nodes whose lease was live at the last renewal")
SWEPT = Counter(
    "csms_cluster_swept_stations", "Stations of dead nodes this node released and marked offline"
)
