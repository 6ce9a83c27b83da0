"""Node leases against a real PostgreSQL schema, with central systems in this process: the sweep
of a dead node, /readyz naming the lease, a node id that is taken, large messages."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from csms.app import running_central_system
from csms.cluster.nodes import NodeIdTaken
from csms.settings import Settings
from tests.support.cluster import query
from tests.support.databases import make_settings
from tests.support.fixtures_sim import StationFactory
from tests.support.waiting import eventually


def _settings(url: str, **cluster: object) -> Settings:
    return make_settings(url, cluster={"enabled": True, "node_lease_s": 2, **cluster})


async def test_a_dead_nodes_stations_are_released_and_marked_offline(postgres_url: str) -> None:
    async with running_central_system(_settings(postgres_url)) as cs:
        assert cs.cluster is not None
        # A node that died without a word: its lease lapsed a moment ago, it held a station.
        for sql in (
            "INSERT INTO stations (id, status, first_seen, online) "
            "VALUES ('GHOST-1', 'accepted', 0, 1)",
            "INSERT INTO cluster_nodes (node_id, incarnation, lease_until) "
            "VALUES ('dead-node', 'x', now() + interval '1 second')",
            "INSERT INTO cluster_presence (station_id, node_id, connection_id, since, version) "
            "VALUES ('GHOST-1', 'dead-node', 'c', 1, nextval('cluster_presence_version'))",
        ):
            await query(postgres_url, sql)
        await cs.cluster._reload()
        await cs.cluster.lease.renew()
        assert "dead-node" in cs.cluster.lease.live
        assert cs.link.is_online("GHOST-1")  # held by a live node, as far as we know

        async def swept() -> bool:
            rows = await query(postgres_url, "SELECT online FROM stations WHERE id = 'GHOST-1'")
            return rows == [{"online": 0}]

        began = time.monotonic()
        while not await swept():
            assert time.monotonic() - began < 20
            await asyncio.sleep(0.1)
        assert not cs.link.is_online("GHOST-1") and "GHOST-1" not in cs.link.online_ids()
        assert await query(postgres_url, "SELECT * FROM cluster_presence") == []
        nodes = await query(postgres_url, "SELECT node_id FROM cluster_nodes")
        assert [r["node_id"] for r in nodes] == [cs.node_id]


async def test_readyz_names_the_node_and_fails_without_the_lease(postgres_url: str) -> None:
    async with running_central_system(_settings(postgres_url)) as cs:
        assert cs.cluster is not None
        async with httpx.AsyncClient(base_url=cs.api_url) as client:
            response = await client.get("/readyz")
            assert response.status_code == 200, response.text
            assert response.json()["node_id"] == cs.node_id != cs.settings.node_id
            cs.cluster.lease._monotonic = lambda: time.monotonic() + 60  # no renewal for 60 s
            response = await client.get("/readyz")
        assert response.status_code == 503
        assert any("node lease" in p for p in response.json()["problems"])


async def test_a_node_id_held_by_a_live_node_stops_the_second(postgres_url: str) -> None:
    settings = make_settings(
        postgres_url, node_id="csms-0", cluster={"enabled": True, "node_lease_s": 1}
    )
    async with running_central_system(settings) as first:
        assert first.node_id == "csms-0"
        with pytest.raises(NodeIdTaken, match="node_id"):
            async with running_central_system(settings):
                pass


async def test_large_calls_and_answers_travel_through_the_table(
    postgres_url: str, sim_stations: StationFactory
) -> None:
    settings = _settings(postgres_url)
    async with (
        running_central_system(settings) as a,
        running_central_system(settings) as b,
    ):
        [station] = await sim_stations(1, a.ocpp_url)
        await eventually(lambda: b.link.is_online(station.station_id))
        data = "x" * 9000  # beyond a NOTIFY payload
        answer = await b.link.call(
            station.station_id, "DataTransfer", {"vendorId": "Alfen BV", "data": data}
        )
        assert "status" in answer
        assert station.data_transfers[-1] == (None, data)
        stored = await query(postgres_url, "SELECT count(*) AS n FROM cluster_messages")
        assert stored[0]["n"] >= 1
