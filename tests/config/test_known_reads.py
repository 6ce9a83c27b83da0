"""A restarted central system reads a known station in one call; a new station gets its full read.

Issue 16, the reconnect storm: every station reconnects after a restart and gets a post-boot
snapshot. The simulated stations here answer like the storm's (`whole_list_config`: every
GetConfiguration answered with all keys, none of them GetConfigurationMaxKeys), which took ten
calls per boot before the reader used what the last snapshot learnt. Real websockets, the real
central system on SQLite, restarted on the same port and database.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from csms.app import CentralSystem, running_central_system
from csms.config.catalog import CATALOG
from csms.config.records import SnapshotRecord
from csms.events import Event, SnapshotTaken
from csms.sim.station import SimStation
from tests.support.databases import make_settings
from tests.support.ports import listen_port

FAST_BOOT = 0.05  # the pause before the post-boot snapshot, shortened for tests


def asked(station: SimStation) -> list[list[str] | None]:
    """The key list of every GetConfiguration the station was sent (None: all keys)."""
    frames = [json.loads(text) for direction, text in station.frames if direction == "in"]
    return [f[3].get("key") for f in frames if f[0] == 2 and f[2] == "GetConfiguration"]


async def boot_snapshots(
    cs: CentralSystem, events: asyncio.Queue[Event], *station_ids: str
) -> dict[str, SnapshotRecord]:
    """Each station's snapshot of its next boot, as announced on the bus (stored or confirmed)."""
    taken: dict[str, int] = {}
    async with asyncio.timeout(60):  # generous: only stops a broken test from hanging
        while len(taken) < len(station_ids):
            event = await events.get()
            if not isinstance(event, SnapshotTaken) or event.station_id not in station_ids:
                continue
            if event.reason == "boot":
                taken[event.station_id] = event.snapshot_id
    found = {sid: await cs.config.store.snapshot(sid, i) for sid, i in taken.items()}
    return {sid: snapshot for sid, snapshot in found.items() if snapshot is not None}


def station(url: str, station_id: str, stations: list[SimStation]) -> SimStation:
    made = SimStation(station_id, url, whole_list_config=True, record_frames=True)
    stations.append(made)
    return made


async def test_a_restarted_server_reads_a_known_station_in_one_call_and_a_new_one_fully(
    tmp_path: Path,
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/csms.sqlite3", ocpp_port=listen_port())
    stations: list[SimStation] = []
    try:
        async with running_central_system(settings) as cs:
            cs.config.boot_delay_s = FAST_BOOT
            events = cs.bus.subscribe()
            known = station(cs.ocpp_url, "KNOWN-1", stations)
            await known.start()
            first = (await boot_snapshots(cs, events, known.station_id))[known.station_id]
            first_reads = asked(known)
        # A new station's full read: all keys, GetConfigurationMaxKeys, then the catalog's keys
        # it did not list, in requests of 10; what it left out is stored as unknown.
        assert first_reads[:2] == [None, ["GetConfigurationMaxKeys"]]
        assert len(first_reads) > 2 and all(len(keys or []) <= 10 for keys in first_reads)
        assert first.full_read_at is not None and first.full_read_firmware == known.firmware
        assert "GetConfigurationMaxKeys" in first.unknown_keys
        assert set(first.values) | set(first.unknown_keys) >= set(CATALOG)
        assert first.values == {entry.key: entry.value for entry in known.config.get(None)[0]}

        known.frames.clear()  # the station reconnects by itself once the server is back
        async with running_central_system(settings) as cs:
            cs.config.boot_delay_s = FAST_BOOT
            events = cs.bus.subscribe()
            new = station(cs.ocpp_url, "NEW-1", stations)
            await new.start()
            after = await boot_snapshots(cs, events, known.station_id, new.station_id)
            known_reads, new_reads = asked(known), asked(new)
        again, fresh = after[known.station_id], after[new.station_id]
        # (a "connect" read may come first if the pause ends before the BootNotification)
        assert 1 <= len(known_reads) <= 2 and set(map(str, known_reads)) == {"None"}
        assert (again.id, again.values, again.unknown_keys) == (
            first.id,
            first.values,
            first.unknown_keys,
        )  # the same configuration: only confirmed
        assert again.full_read_at == first.full_read_at  # not a full check: carried on
        assert new_reads[:2] == [None, ["GetConfigurationMaxKeys"]] and len(new_reads) > 2
        assert set(fresh.values) | set(fresh.unknown_keys) >= set(CATALOG)
    finally:
        for made in stations:
            await made.stop()


async def test_a_known_station_booting_with_new_firmware_gets_a_full_read(
    central_system: CentralSystem,
) -> None:
    cs = central_system
    cs.config.boot_delay_s = FAST_BOOT
    events = cs.bus.subscribe()
    stations: list[SimStation] = []
    sim = station(cs.ocpp_url, "FW-1", stations)
    try:
        await sim.start()
        first = (await boot_snapshots(cs, events, sim.station_id))[sim.station_id]
        sim.frames.clear()
        again = await cs.config.take_snapshot(sim.station_id, "request")
        assert asked(sim) == [None] and again.id == first.id

        sim.firmware = "5.9.0-4200"  # an update: new firmware may bring new keys
        sim.frames.clear()
        rebooted = time.time()
        assert await cs.config.reset(sim.station_id) == "Accepted"
        after = (await boot_snapshots(cs, events, sim.station_id))[sim.station_id]
        reads = asked(sim)
        # Every catalog key it lacked is asked again (GetConfigurationMaxKeys too, in a page:
        # the small requests are known), and the new firmware is stored with the check.
        assert None in reads and len(reads) > 2
        asked_keys = {key for keys in reads for key in keys or []}
        assert asked_keys >= set(first.unknown_keys)
        assert after.full_read_firmware == "5.9.0-4200"
        assert after.full_read_at is not None and after.full_read_at >= rebooted
    finally:
        await sim.stop()
