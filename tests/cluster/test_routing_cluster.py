"""Acceptance: three `csms serve` processes on one schema, 50 simulated stations spread over them
through a balancer; every node's API reaches every station; a SIGKILLed node's stations are
released within the lease and served by the others; nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from csms.sim.clock import SimClock
from csms.sim.station import SimStation
from tests.support.cluster import (
    LocalCluster,
    local_cluster,
    lost_messages,
    query,
    start_charging,
    start_stations,
)

STATIONS = 50
LEASE_S = 2.0


async def _holders(url: str) -> dict[str, str]:
    rows = await query(url, "SELECT station_id, node_id FROM cluster_presence")
    return {r["station_id"]: r["node_id"] for r in rows}


async def _every_node_reaches_every_station(cluster: LocalCluster, ids: list[str]) -> None:
    gate = asyncio.Semaphore(12)

    async def trigger(node_index: int, station_id: str) -> tuple[int, str, Any]:
        async with gate:
            status, body = await cluster.nodes[node_index].api(
                "POST", f"/api/v1/stations/{station_id}/trigger", {"message": "Heartbeat"}
            )
        return node_index, station_id, (status, body)

    running = [n.index for n in cluster.nodes if n.running]
    results = await asyncio.gather(*(trigger(n, sid) for n in running for sid in ids))
    failed = [r for r in results if r[2][0] != 200 or r[2][1].get("status") != "Accepted"]
    assert not failed, failed[:5]


async def _all_online_everywhere(cluster: LocalCluster, ids: list[str]) -> bool:
    for node in cluster.nodes:
        if not node.running:
            continue
        status, body = await node.api("GET", "/api/v1/stations")
        online = {s["id"] for s in body if s["online"]} if status == 200 else set()
        if not set(ids) <= online:
            return False
    return True


async def test_three_nodes_route_every_call_and_survive_a_killed_node(
    postgres_url: str, tmp_path: Path
) -> None:
    clock = SimClock()
    stations: list[SimStation] = []
    async with local_cluster(postgres_url, tmp_path, nodes=3, node_lease_s=LEASE_S) as cluster:
        migrations = await query(
            postgres_url, "SELECT name, count(*) AS n FROM schema_migrations GROUP BY 1"
        )
        assert all(r["n"] == 1 for r in migrations)  # three nodes started together
        try:
            stations = await start_stations(cluster.balancer_url, "CL-", STATIONS, clock)
            ids = [s.station_id for s in stations]
            holders = await _holders(postgres_url)
            assert set(holders) == set(ids)
            node_ids = {n.node_id for n in cluster.nodes}
            assert set(holders.values()) == node_ids  # spread over all three

            async def settled() -> bool:
                return await _all_online_everywhere(cluster, ids)

            await _eventually_async(settled)
            await _every_node_reaches_every_station(cluster, ids)

            # Load: every station charges, sending MeterValues every 2 s.
            await start_charging(stations)
            victim = cluster.nodes[1]
            held_by_victim = {sid for sid, node in holders.items() if node == victim.node_id}
            await asyncio.sleep(2 * LEASE_S)  # MeterValues flowing on every node
            killed_at = time.monotonic()
            await victim.kill()

            async def released() -> bool:
                now = await _holders(postgres_url)
                nodes = await query(postgres_url, "SELECT node_id FROM cluster_nodes")
                return victim.node_id not in set(now.values()) | {r["node_id"] for r in nodes}

            await _eventually_async(released, within_s=LEASE_S + 8)
            released_after = time.monotonic() - killed_at
            # Its stations reconnected to the other nodes and are served from every node.
            await _eventually_async(settled, within_s=60)
            holders = await _holders(postgres_url)
            assert held_by_victim and set(holders) == set(ids)
            assert {holders[sid] for sid in held_by_victim} <= node_ids - {victim.node_id}
            await _every_node_reaches_every_station(cluster, ids)
            online = await query(postgres_url, "SELECT id FROM stations WHERE online = 1")
            assert {r["id"] for r in online} == set(ids)  # no late "offline" of the dead node
            print(f"killed node released after {released_after:.1f} s (lease {LEASE_S} s)")
        finally:
            await asyncio.gather(*(s.stop() for s in stations))
            await clock.close()
        lost = await lost_messages(postgres_url, {s.station_id: s.frames for s in stations})
        assert len(lost["acknowledged_starts"]) >= STATIONS
        assert len(lost["acknowledged_meters"]) > STATIONS
        assert not lost["starts"] and not lost["meters"], lost


async def _eventually_async(check: Any, within_s: float = 30.0) -> None:
    """Until `await check()` holds (a query of another party's state), polling."""
    async with asyncio.timeout(within_s):
        while not await check():  # noqa: ASYNC110 - polling other processes' state
            await asyncio.sleep(0.2)
