"""Two central systems on one schema, one site with a simulated meter: exactly one node runs the
site's loop (the API of both nodes and the database agree), the station on the other node gets
its limits through the router, and a node that stops hands the site over: the other node takes
it in the next epoch, restores it from the stored state and sends the limits."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import pytest

from csms.app import CentralSystem
from csms.sim.ev import SimEv
from tests.cluster.leader_rig import (
    SITE,
    lease_rows,
    node,
    profiles_received,
    site_settings,
    site_world,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.postgres


async def site_view(cs: CentralSystem) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=cs.api_url, timeout=30) as client:
        response = await client.get(f"/api/v1/sites/{SITE}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_one_leader_runs_the_site_and_hands_it_over_on_shutdown(postgres_url: str) -> None:
    async with site_world(household_a=2.0) as world:
        settings = site_settings(postgres_url, world.port, ["st1"], site_takeover_s=9)
        a_stack = contextlib.AsyncExitStack()
        a = await a_stack.enter_async_context(node(settings, "node-a"))
        try:
            assert a.leases is not None
            await eventually(lambda: a.leases is not None and a.leases.epoch(SITE) == 1, 20)
            async with node(settings, "node-b") as b:
                assert b.leases is not None
                # The station is held by the node that does NOT lead: limits travel the router.
                station = world.station("st1", b.ocpp_url, "b")
                await station.start()
                await station.wait_booted(20)
                station.plug_in(1, SimEv(max_current_a=16.0))
                await station.wait_transaction(1, within_s=30)
                await eventually(
                    lambda: any(r.epoch == 1 and r.profile_id % 10_000 >= 3000
                                for r in profiles_received([station.frames])), 40,
                )  # fmt: skip

                # Exactly one node runs the loop: its API, the other's API, the database.
                assert a.charging.running_sites() == [SITE]
                assert b.charging.running_sites() == []
                va, vb = await site_view(a), await site_view(b)
                assert va["leader"] == {
                    "node_id": a.node_id, "epoch": 1, "here": True, "running": True
                }  # fmt: skip
                await eventually(lambda: b.leases is not None and SITE in b.leases.rows, 20)
                vb = await site_view(b)
                assert vb["leader"] == {
                    "node_id": a.node_id, "epoch": 1, "here": False, "running": False
                }  # fmt: skip
                [row] = [r for r in await lease_rows(postgres_url) if r["site_id"] == SITE]
                assert (row["node_id"], row["epoch"], row["live"]) == (a.node_id, 1, True)
                # Only the leader polls the meter (the one connection the meter allows).
                assert a.charging.sites[SITE].poller is not b.charging.sites[SITE].poller
                assert b.charging.sites[SITE].last is None

                # A cap set through the other node's API reaches the leader's loop.
                async with httpx.AsyncClient(base_url=b.api_url, timeout=30) as client:
                    response = await client.put(f"/api/v1/sites/{SITE}/cap", json={"limit_a": 10})
                    assert response.status_code == 200, response.text
                    # The mode lives in the leader's loop only: the other node names the leader.
                    mode = {"mode": "pv-surplus"}
                    response = await client.put(f"/api/v1/sites/{SITE}/mode", json=mode)
                    assert response.status_code == 409, response.text
                    assert f"led by node {a.node_id}" in response.json()["detail"]
                await eventually(lambda: a.charging.sites[SITE].caps.site_a == 10, 20)
                async with httpx.AsyncClient(base_url=a.api_url, timeout=30) as client:
                    response = await client.put(f"/api/v1/sites/{SITE}/mode", json=mode)
                assert response.status_code == 200, response.text
                assert a.charging.sites[SITE].site.mode == "pv-surplus"

                # A stops (as on SIGTERM): it releases the site before its stations go.
                await a_stack.aclose()
                assert SITE in a.leases.released
                await eventually(lambda: b.leases is not None and b.leases.epoch(SITE) == 2, 20)
                await eventually(lambda: b.charging.running_sites() == [SITE], 20)
                # B carries on from the stored state: the running transaction is known, and the
                # station (on B) gets its limits in epoch 2.
                loop = b.charging.sites[SITE]
                assert any(c.transaction_id is not None for c in loop.model.connectors.values())
                assert loop.caps.site_a == 10
                await eventually(
                    lambda: any(r.epoch == 2 and r.profile_id % 10_000 >= 3000
                                for r in profiles_received([station.frames])), 40,
                )  # fmt: skip
                vb = await site_view(b)
                assert vb["leader"] == {
                    "node_id": b.node_id, "epoch": 2, "here": True, "running": True
                }  # fmt: skip
        finally:
            await a_stack.aclose()
