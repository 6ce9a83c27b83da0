"""Heartbeat times are written after the answer, batched (`StationStore.note_heartbeat`), on both
engines."""

from __future__ import annotations

import asyncio

from csms.storage import Store


async def _register(store: Store, *ids: str) -> None:
    for station_id in ids:
        await store.stations.create(station_id, "accepted", 1.0)


async def test_noted_heartbeats_are_written_with_each_stations_latest_time(store: Store) -> None:
    await _register(store, "HB-1", "HB-2")
    store.stations.note_heartbeat("HB-1", 10.0)  # no await: the answer does not wait
    store.stations.note_heartbeat("HB-2", 11.0)
    store.stations.note_heartbeat("HB-1", 12.0)
    await store.stations.heartbeats_written()
    one, two = await store.stations.get("HB-1"), await store.stations.get("HB-2")
    assert one is not None and two is not None
    assert (one.last_heartbeat, one.last_seen) == (12.0, 12.0)
    assert (two.last_heartbeat, two.last_seen) == (11.0, 11.0)


async def test_heartbeats_noted_during_a_write_go_out_in_the_next(store: Store) -> None:
    """A slow commit holds one write; every heartbeat that comes meanwhile waits for the next,
    which carries all of them (one statement, not one unit each)."""
    await _register(store, *(f"HB-{i}" for i in range(50)))
    store.stations.note_heartbeat("HB-0", 1.0)
    await asyncio.sleep(0)  # the writer task has taken HB-0 and waits for its commit
    for i in range(1, 50):
        store.stations.note_heartbeat(f"HB-{i}", 2.0)
    await store.stations.heartbeats_written()
    seen = {r.id: r.last_heartbeat for r in await store.stations.all()}
    assert seen == {"HB-0": 1.0, **{f"HB-{i}": 2.0 for i in range(1, 50)}}


async def test_a_heartbeat_of_a_station_that_is_gone_loses_the_others_nothing(store: Store) -> None:
    await _register(store, "HB-KEPT")
    store.stations.note_heartbeat("HB-NEVER-REGISTERED", 5.0)  # updates no row
    store.stations.note_heartbeat("HB-KEPT", 5.0)
    await store.stations.heartbeats_written()
    kept = await store.stations.get("HB-KEPT")
    assert kept is not None and kept.last_heartbeat == 5.0
