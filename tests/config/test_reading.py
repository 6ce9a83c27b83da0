"""GetConfiguration calls per snapshot, per kind of station: new, known, a full check due.

Each kind answers as real stations do (hand-written, no sockets); the service reads them with a
real SQLite store. A known station's read uses what the last one learnt (its max keys, the keys it
lacks, its key set); a day later every key is asked again. The snapshots stay the same throughout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from csms.config.catalog import CATALOG
from csms.config.service import ConfigService
from csms.config.snapshot import FULL_CHECK_EVERY_S, parse_get_configuration
from csms.events import EventBus
from csms.ocpp.errors import CallErrorReceived
from csms.storage import Database, Store, open_database

MAX_KEYS = "GetConfigurationMaxKeys"
HAS = [key for key in CATALOG if key != MAX_KEYS][:40]  # the catalog keys every kind has


class Station:
    """One kind of station's GetConfiguration answers; `calls` holds the key list of each call.

    complete: every key in one answer, GetConfigurationMaxKeys 10 among them.
    cuts: an answer without a key list is cut at its GetConfigurationMaxKeys (10), which is not
      in the cut; key lists are answered up to 10 keys, unknown ones listed.
    refuses: a CALLERROR without a key list; key lists as "cuts".
    whole list: no GetConfigurationMaxKeys; every call answered with all its keys.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.keys = {key: f"v-{i}" for i, key in enumerate(HAS)}
        self.keys["Vendor-Extra"] = "x"  # not in the catalog
        if kind != "whole list":
            self.keys[MAX_KEYS] = "10"
        self.calls: list[list[str] | None] = []

    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert action == "GetConfiguration"
        self.calls.append(payload.get("key"))
        return self.answer(self.calls[-1])

    def answer(self, wanted: list[str] | None) -> dict[str, Any]:
        if self.kind == "whole list" or (not wanted and self.kind == "complete"):
            return {"configurationKey": [self.item(k) for k in self.keys]}
        if not wanted:
            if self.kind == "refuses":
                raise CallErrorReceived("GenericError", "answer too large", {})
            return {"configurationKey": [self.item(k) for k in list(self.keys)[:10]]}
        asked = wanted[:10]
        return {
            "configurationKey": [self.item(k) for k in asked if k in self.keys],
            "unknownKey": [k for k in asked if k not in self.keys],
        }

    def item(self, key: str) -> dict[str, Any]:
        return {"key": key, "readonly": key == MAX_KEYS, "value": self.keys[key]}

    def is_online(self, station_id: str) -> bool:  # the StationLink the service calls through
        return True

    def online_ids(self) -> list[str]:
        return []


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = open_database(f"sqlite:///{tmp_path}/reads.sqlite3")
    await database.open()
    yield database
    await database.close()


READS = [
    # kind, calls: new station, known station, known station a day later (a full check)
    ("complete", 1, 1, 1),
    # new: all keys (cut), max keys, 71 catalog keys in 8 pages; known: the 31 keys of its
    # snapshot the cut left out (4 pages); a day later the 71 again, max keys already known
    ("cuts", 10, 5, 9),
    ("refuses", 11, 6, 10),  # as "cuts", the first call refused
    # new: all keys, max keys (not there), the 40 catalog keys it did not list (4 pages);
    # known: the same key set, nothing to complete; a day later the 41 with max keys (5 pages)
    ("whole list", 6, 1, 6),
]


@pytest.mark.parametrize(
    ("kind", "new", "known", "day_later"), READS, ids=[row[0] for row in READS]
)
async def test_calls_per_snapshot(
    db: Database, kind: str, new: int, known: int, day_later: int
) -> None:
    station = Station(kind)
    now = [1000.0]
    service = ConfigService(station, Store.on(db), EventBus(), lambda: now[0])
    first = await service.take_snapshot("A", "boot")
    discoverable = {
        k: v for k, v in station.keys.items() if kind in ("complete", "whole list") or k in CATALOG
    }
    assert first.values == discoverable
    if kind != "complete":
        assert set(first.unknown_keys) == set(CATALOG) - set(station.keys)
    counts = [len(station.calls)]
    for later in (3600.0, FULL_CHECK_EVERY_S + 1):  # a restart an hour later; a day later
        now[0] = 1000.0 + later
        station.calls.clear()
        again = await service.take_snapshot("A", "boot")
        counts.append(len(station.calls))
        assert (again.id, again.values, again.unknown_keys) == (
            first.id,
            first.values,
            first.unknown_keys,
        )  # the same configuration, only confirmed
        assert all(len(keys or []) <= 10 for keys in station.calls)
    assert counts == [new, known, day_later]
    latest = await service.store.latest_snapshot("A")
    assert latest is not None and latest.full_read_at == now[0]  # the day-later check


async def test_a_key_that_appears_on_a_known_whole_list_station_is_read_in_one_call(
    db: Database,
) -> None:
    station = Station("whole list")
    service = ConfigService(station, Store.on(db), EventBus(), lambda: 1000.0)
    first = await service.take_snapshot("A", "boot")
    lacked = first.unknown_keys[0]
    station.keys[lacked] = "new"  # e.g. a feature's keys show up once it is licensed
    station.calls.clear()
    again = await service.take_snapshot("A", "request")
    assert station.calls == [None]  # every other catalog key was unknown last time: nothing to ask
    assert again.id != first.id and again.values[lacked] == "new"
    assert lacked not in again.unknown_keys
    assert set(again.unknown_keys) == set(first.unknown_keys) - {lacked}


async def test_an_answer_with_the_last_snapshots_key_set_needs_no_follow_up(db: Database) -> None:
    station = Station("whole list")
    service = ConfigService(station, Store.on(db), EventBus(), lambda: 1000.0)
    entries, _ = parse_get_configuration(await station.call("A", "GetConfiguration", {}))
    # A snapshot whose read left the catalog's other keys undecided (neither there nor unknown):
    # the same key set again is still a whole answer (a cut is shorter than the snapshot it cut).
    await service.store.add_snapshot("A", 900.0, "boot", entries, [], None, full_read_at=900.0)
    station.calls.clear()
    again = await service.take_snapshot("A", "boot")
    assert station.calls == [None] and again.values == station.keys
    station.keys["Vendor-New"] = "1"  # another key set: completed by key lists
    station.calls.clear()
    await service.take_snapshot("A", "boot")
    assert station.calls[0] is None and len(station.calls) > 1
