"""The split: the leading node loses its database (a TCP proxy between it and PostgreSQL is
cut). It stops sending limits at its local expiry, before the other node can take the site; no
two nodes send limits in the same epoch — all checked from the profiles the station received
(each profile id carries its epoch, each frame its arrival time and the node it came over)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from csms.sim.ev import SimEv
from tests.cluster.leader_rig import (
    SITE,
    TimedFrames,
    node,
    profiles_received,
    site_settings,
    site_world,
)
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import eventually

pytestmark = pytest.mark.postgres


async def test_a_leader_cut_off_from_the_database_stops_before_another_takes_over(
    postgres_url: str,
) -> None:
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.up()
    via_proxy = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    assert via_proxy != postgres_url
    async with site_world(household_a=2.0) as world:
        settings_a = site_settings(via_proxy, world.port, ["st1"], site_takeover_s=9)
        settings_b = site_settings(postgres_url, world.port, ["st1"], site_takeover_s=9)
        async with contextlib.AsyncExitStack() as nodes:
            a = await nodes.enter_async_context(node(settings_a, "node-a"))
            assert a.leases is not None
            await eventually(lambda: a.leases is not None and a.leases.epoch(SITE) == 1, 20)
            b = await nodes.enter_async_context(node(settings_b, "node-b"))
            assert b.leases is not None
            station = world.station("st1", a.ocpp_url, "a")
            frames_a = station.frames
            assert isinstance(frames_a, TimedFrames)
            await station.start()
            await station.wait_booted(20)
            station.plug_in(1, SimEv(max_current_a=16.0))
            await station.wait_transaction(1, within_s=30)
            await eventually(
                lambda: any(r.epoch == 1 and r.profile_id % 10_000 >= 3000
                            for r in profiles_received([frames_a])), 40,
            )  # fmt: skip

            # Cut A off the database; the household load rises, so A has new limits to send.
            await proxy.down()
            world.meter.set_household(12.0)
            a_until = 0.0
            async with asyncio.timeout(30):
                while (held := a.leases.held.get(SITE)) is not None:
                    a_until = max(a_until, held.valid_until)
                    await asyncio.sleep(0.01)
            assert a.leases.epoch(SITE) is None
            await eventually(lambda: a.charging.running_sites() == [], 10)
            # Still cut off, A would have more to send now: it must not.
            world.meter.set_household(6.0)
            await eventually(lambda: b.leases is not None and b.leases.epoch(SITE) == 2, 30)

            # The station moves to B (as its balancer would send it) and gets epoch-2 limits.
            await station.stop()
            station.frames = frames_b = TimedFrames("b")
            station.url = f"{b.ocpp_url}/st1"
            await station.start()
            await eventually(lambda: any(r.epoch == 2 for r in profiles_received([frames_b])), 40)
            received = profiles_received([frames_a, frames_b])
            from_a = [r for r in received if r.node == "a"]
            epoch_2 = [r for r in received if r.epoch == 2]
            # No two nodes sent limits in one epoch.
            nodes_of = {e: {r.node for r in received if r.epoch == e} for e in {1, 2}}
            assert nodes_of == {1: {"a"}, 2: {"b"}}, nodes_of
            # The deposed leader sent nothing after its local expiry, and everything it sent
            # arrived before the first limit of the new leader.
            assert from_a and max(r.at for r in from_a) <= a_until
            assert max(r.at for r in from_a) < min(r.at for r in epoch_2)
            # Let A reach its database again, so it can stop in order.
            await proxy.up()
    await proxy.down()
