"""Two central systems on one schema, one site: a station's MeterValues reach the node leading
the site exactly once and in order, and never the other node, while every other event of the
station reaches both (docs/cluster.md, "Events across nodes")."""

from __future__ import annotations

import asyncio

import pytest

from csms import events
from csms.sim.ev import SimEv
from tests.cluster.leader_rig import SITE, node, site_settings, site_world
from tests.support.waiting import eventually

pytestmark = pytest.mark.postgres


def drained(queue: asyncio.Queue[events.Event], into: list[events.Event]) -> list[events.Event]:
    while not queue.empty():
        into.append(queue.get_nowait())
    return into


def samples(seen: list[events.Event], station_id: str) -> list[events.MeterSampled]:
    return [e for e in seen if isinstance(e, events.MeterSampled) and e.station_id == station_id]


async def test_meter_values_reach_the_leader_only_and_other_events_every_node(
    postgres_url: str,
) -> None:
    async with site_world(household_a=2.0) as world:
        settings = site_settings(postgres_url, world.port, ["st1", "st2"], site_takeover_s=9)
        async with node(settings, "node-a") as a:
            await eventually(lambda: a.leases is not None and a.leases.epoch(SITE) == 1, 20)
            async with node(settings, "node-b") as b:
                assert a.cluster is not None and b.cluster is not None
                # B knows A leads the site before the stations send anything.
                await eventually(lambda: b.leases is not None and SITE in b.leases.rows, 20)
                queues = a.cluster.wide_bus.subscribe(), b.cluster.wide_bus.subscribe()
                seen_a: list[events.Event] = []
                seen_b: list[events.Event] = []
                # st1 on the leader, st2 on the other node; both charge and sample every second.
                for station_id, cs, name in (("st1", a, "a"), ("st2", b, "b")):
                    station = world.station(station_id, cs.ocpp_url, name)
                    await station.start()
                    await station.wait_booted(20)
                    station.plug_in(1, SimEv(max_current_a=16.0))
                    await station.wait_transaction(1, within_s=30)

                def at_least(n: int) -> bool:
                    drained(queues[0], seen_a)
                    drained(queues[1], seen_b)
                    return len(samples(seen_a, "st1")) >= n and len(samples(seen_a, "st2")) >= 3

                await eventually(lambda: at_least(3), 60)
                # The leader got st2's samples from B once each, in B's order.
                from_b = samples(seen_a, "st2")
                assert from_b == samples(seen_b, "st2")[: len(from_b)]
                # B never got st1's samples, only its other events (its loop is not running);
                # two more of them on the leader give one sent wrongly the time to show.
                more = len(samples(seen_a, "st1")) + 2
                await eventually(lambda: at_least(more), 30)
                assert samples(seen_b, "st1") == []
                assert any(
                    isinstance(e, events.TransactionStarted) and e.station_id == "st1"
                    for e in seen_b
                )
                assert b.cluster.relay.sent > 0 and a.cluster.relay.kept > 0
