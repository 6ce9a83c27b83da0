"""Two central systems on one PostgreSQL schema, in one process: CALLs, disconnects and errors
routed to the node holding the station; presence follows a reconnect to the other node."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from csms import events
from csms.app import running_central_system
from csms.ocpp.errors import CallErrorReceived, StationOffline
from tests.support.databases import POSTGRES_URL, make_settings
from tests.support.fixtures_sim import StationFactory
from tests.support.waiting import eventually


async def _presence_row(url: str, station_id: str) -> str | None:
    schema = url.split("schema=")[1]
    conn = await asyncpg.connect(POSTGRES_URL, server_settings={"search_path": schema})
    try:
        node = await conn.fetchval(
            "SELECT node_id FROM cluster_presence WHERE station_id = $1", station_id
        )
        online = await conn.fetchval("SELECT online FROM stations WHERE id = $1", station_id)
    finally:
        await conn.close()
    return f"{node} online={online}"


async def test_calls_through_either_node_reach_the_station_and_follow_a_reconnect(
    postgres_url: str, sim_stations: StationFactory
) -> None:
    settings = make_settings(postgres_url, cluster={"enabled": True, "node_lease_s": 2})
    async with (
        running_central_system(settings) as a,
        running_central_system(settings) as b,
    ):
        assert a.node_id != b.node_id and b.cluster is not None and a.cluster is not None
        # A learns of B at its next lease renewal (a third of the lease after B started).
        await eventually(lambda: a.cluster is not None and b.node_id in a.cluster.lease.live)
        b_wide, b_local = b.cluster.wide_bus.subscribe(), b.bus.subscribe()
        [station] = await sim_stations(1, a.ocpp_url)
        sid = station.station_id
        await eventually(lambda: b.link.is_online(sid) and sid in b.link.online_ids())
        assert a.registry.get(sid) is not None and b.registry.get(sid) is None
        # B's configuration workers look after B's stations only (A's are A's to look after).
        assert b.cluster is not None and b.config.link is b.cluster.held_here
        assert b.cluster.held_here.online_ids() == [] and b.cluster.held_here.is_online(sid)
        assert await _presence_row(postgres_url, sid) == f"{a.node_id} online=1"

        # A's events reach B's wide bus (the site loops), not B's local bus (B's own work).
        seen: list[events.Event] = []

        def relayed() -> bool:
            while not b_wide.empty():
                seen.append(b_wide.get_nowait())
            kinds = {type(e) for e in seen if e.station_id == sid}
            return {events.StationConnected, events.StationBooted} <= kinds and (
                events.ConnectorStatusChanged in kinds
            )

        await eventually(relayed)
        assert b_local.empty()

        # A CALL through node B runs on node A's session and comes back with the answer.
        answer = await b.link.call(sid, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        assert [k["key"] for k in answer["configurationKey"]] == ["HeartbeatInterval"]
        # So does one through B's API (TriggerMessage), and the station's CALLERROR class.
        async with httpx.AsyncClient(base_url=b.api_url, timeout=30) as client:
            response = await client.post(
                f"/api/v1/stations/{sid}/trigger", json={"message": "Heartbeat"}
            )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "Accepted"
        with pytest.raises(CallErrorReceived) as error:
            await b.link.call(sid, "NoSuchAction", {})
        assert error.value.code == "NotSupported"
        with pytest.raises(StationOffline):
            await b.link.call("NOT-CONNECTED", "Heartbeat", {})
        for outcome in ("answered", "CallErrorReceived"):
            counted = REGISTRY.get_sample_value(
                "csms_cluster_forwarded_calls_total", {"outcome": outcome}
            )
            assert counted is not None and counted >= 1

        # The station moves to node B: B closes it through A (a forwarded disconnect).
        station.url = f"{b.ocpp_url}/{sid}"
        connects = station.connects
        assert await b.link.disconnect(sid, 1012, "moving") is True
        await eventually(lambda: station.connects > connects and b.registry.is_online(sid))
        await eventually(lambda: a.link.presence.owner(sid) == b.node_id)
        # Node A routes to B even while its own session may still be closing.
        assert a.link.is_online(sid)
        await eventually(lambda: a.registry.get(sid) is None)
        answer = await a.link.call(sid, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        assert answer["configurationKey"]
        # A's late close did not undo B's presence, nor its online mark.
        assert await _presence_row(postgres_url, sid) == f"{b.node_id} online=1"
