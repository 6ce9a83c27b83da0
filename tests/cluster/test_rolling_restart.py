"""Rolling restart: SIGTERM each of three `csms serve` nodes in turn while stations charge.
The stopping node closes its stations with 1012 (service restart), they reconnect to the
others, nothing acknowledged is lost and no transaction is stored twice."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from csms.sim.clock import SimClock
from csms.sim.station import SimStation
from tests.support.cluster import (
    ClusterNode,
    local_cluster,
    lost_messages,
    query,
    start_charging,
    start_stations,
)
from tests.support.waiting import eventually, eventually_async

STATIONS = 24


async def _watch_close_code(node: ClusterNode, station_id: str) -> asyncio.Task[int | None]:
    """A station connected straight to `node` (booted); the task ends with its close code."""
    ws = await connect(f"{node.ocpp_url}/{station_id}", subprotocols=["ocpp1.6"])  # type: ignore[list-item]
    boot = {"chargePointVendor": "Probe", "chargePointModel": "P1"}
    await ws.send(json.dumps([2, "boot-1", "BootNotification", boot]))

    async def closed() -> int | None:
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as exc:
            return None if exc.rcvd is None else exc.rcvd.code

    return asyncio.create_task(closed())


async def test_rolling_restart_under_load_loses_nothing(postgres_url: str, tmp_path: Path) -> None:
    clock = SimClock()
    stations: list[SimStation] = []
    async with local_cluster(postgres_url, tmp_path, nodes=3, node_lease_s=2.0) as cluster:
        try:
            stations = await start_stations(cluster.balancer_url, "RR-", STATIONS, clock)
            await start_charging(stations)

            for node in cluster.nodes:
                probe = await _watch_close_code(node, f"PROBE-{node.index}")
                connects = sum(s.connects for s in stations)
                old_id = node.node_id
                assert await node.terminate() == 0
                assert await asyncio.wait_for(probe, 10) == 1012
                await node.spawn()  # the new process starts while the stations move
                # Every station is connected and booted again (to the other nodes).
                await eventually(
                    lambda before=connects: (  # type: ignore[misc]
                        all(s.booted for s in stations)
                        and sum(s.connects for s in stations) > before
                    ),
                    within_s=60,
                )

                # Its presence goes: released by its own closes, or swept once its lease lapses
                # when the process ended before those writes (a lease later at most).
                async def presence_gone(old: str | None = old_id) -> bool:
                    sql = "SELECT DISTINCT node_id FROM cluster_presence"
                    return old not in {r["node_id"] for r in await query(postgres_url, sql)}

                await eventually_async(presence_gone, within_s=15)
                await node.wait_ready()
                assert node.node_id != old_id  # a new process is a new node
            await asyncio.sleep(2)  # MeterValues on the restarted nodes too
        finally:
            await asyncio.gather(*(s.stop() for s in stations))
            await clock.close()
        lost = await lost_messages(postgres_url, {s.station_id: s.frames for s in stations})
        assert not lost["starts"] and not lost["meters"], lost
        rows = await query(
            postgres_url,
            "SELECT station_id, connector_id, start_time, count(*) AS n FROM transactions "
            "GROUP BY 1, 2, 3 HAVING count(*) > 1",
        )
        assert rows == []  # no transaction stored twice
        starts: dict[str, Any] = {}
        for sid, tx in lost["acknowledged_starts"]:
            starts.setdefault(sid, set()).add(tx)
        assert all(len(txs) == 1 for txs in starts.values()), starts  # one session each
