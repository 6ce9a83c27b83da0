"""Reading a station's keys through GetConfiguration: whole snapshots and key lists.

Stations differ: some answer "all keys" in one frame, some cut the answer at
`GetConfigurationMaxKeys`, some refuse it with a CALLERROR, some answer every key they have
whatever was asked. The reader completes a cut answer with the keys it knows (the previous
snapshot's and the catalog's) in requests of at most `GetConfigurationMaxKeys` keys.

What the last read learnt is used at once: the station's `GetConfigurationMaxKeys` (or that it
lists none: small requests without asking), the keys it does not have (not asked again until a
full check is due), and its key set (an answer with the same keys was not cut). So a known station
of any kind that answers "all keys" is read in one call after a restart. The rules are pure
(csms/config/snapshot.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from csms.config.catalog import CATALOG, spellings
from csms.config.records import SnapshotRecord
from csms.config.snapshot import (
    FALLBACK_MAX_KEYS,
    ConfigEntry,
    absent_keys,
    chunks,
    max_keys_of,
    missing_keys,
    parse_get_configuration,
    shared_entry,
    whole_answer,
)
from csms.ocpp.errors import CallErrorReceived

log = logging.getLogger(__name__)

MAX_KEYS = "GetConfigurationMaxKeys"
Call = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class KeyRead:
    """Values read for a list of keys; `unknown` are keys the station does not have."""

    values: dict[str, str | None]
    unknown: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FullRead:
    """Every key a station reported in one snapshot read.

    `unknown`: keys it does not have (listed so, or left out of an answer of everything), also
    those the previous snapshot remembered and this read did not ask again. `full`: every key was
    asked for, or the answer held all (by its count): a full check, stored with the snapshot.
    """

    entries: list[ConfigEntry]
    unknown: list[str]
    full: bool


class KeyReader:
    """Reads keys of stations through `call` (e.g. `StationRegistry.call`)."""

    def __init__(self, call: Call) -> None:
        self.call = call

    async def read_all(
        self, station_id: str, previous: SnapshotRecord | None, full: bool = True
    ) -> FullRead:
        """Every key of the station; `previous` is its latest snapshot (None: a new station).

        Unless `full` (`snapshot.full_check_due`), the keys `previous` found unknown are not asked
        again, and an answer with `previous`'s key set needs no follow-up.
        Raises `CallFailed` (e.g. `StationOffline`) when the station cannot be read.
        """
        entries: list[ConfigEntry]
        unknown: list[str]
        try:
            entries, unknown = parse_get_configuration(
                await self.call(station_id, "GetConfiguration", {})
            )
        except CallErrorReceived as exc:
            # Some stations cannot answer "all keys" in one frame: ask key by key list.
            log.info("%s: full GetConfiguration refused (%s); reading in parts", station_id, exc)
            entries, unknown = [], []
        received = {entry.key for entry in entries}
        remembered = previous.unknown_keys if previous is not None else ()
        station_max = max_keys_of(entries) or (
            max_keys_of(previous.entries) if previous is not None else None
        )
        trusted = None if full or previous is None else [e.key for e in previous.entries]
        why = whole_answer(received, station_max, trusted)
        asked: list[str] = []
        if why is None:
            wanted = [*(previous.values if previous is not None else ()), *CATALOG]
            skip = [*unknown, *(() if full else remembered)]
            missing = missing_keys(received, skip, wanted)
            if missing:
                size, not_there = await self.page_size(station_id, previous, station_max)
                missing = [key for key in missing if key not in not_there]
                found, not_found = await self.read(station_id, missing, size)
                entries += [
                    shared_entry(k, v, ro) for k, (v, ro) in found.items() if k not in received
                ]
                unknown += [*not_there, *not_found]
                asked = missing
        decided = received | set(unknown) | set(asked)
        unknown += [key for key in remembered if key not in decided]
        return FullRead(entries, unknown, full or why == "count")

    async def page_size(
        self, station_id: str, previous: SnapshotRecord | None, station_max: int | None = None
    ) -> tuple[int, list[str]]:
        """Keys per request, and `[GetConfigurationMaxKeys]` when this asked and the station showed
        it has no such key.

        The station's GetConfigurationMaxKeys (`station_max`, else from `previous`, else asked
        for); `FALLBACK_MAX_KEYS` when it lists none (learnt last time: not asked again).
        """
        if station_max:
            return station_max, []
        if previous is not None:
            value = max_keys_of(previous.entries)
            if value:
                return value, []
            if MAX_KEYS in previous.unknown_keys:
                return FALLBACK_MAX_KEYS, []
        entries, unknown = parse_get_configuration(
            await self.call(station_id, "GetConfiguration", {"key": [MAX_KEYS]})
        )
        absent = [*unknown, *absent_keys([MAX_KEYS], {e.key for e in entries}, unknown)]
        return max_keys_of(entries) or FALLBACK_MAX_KEYS, [MAX_KEYS] if MAX_KEYS in absent else []

    async def read(
        self, station_id: str, keys: Sequence[str], max_keys: int
    ) -> tuple[dict[str, tuple[str | None, bool]], list[str]]:
        """(key → (value, readonly), unknown keys) for `keys`, in requests of `max_keys`.

        Unknown: listed so by the station, or left out of an answer of everything it has
        (`snapshot.absent_keys`)."""
        found: dict[str, tuple[str | None, bool]] = {}
        unknown: list[str] = []
        for part in chunks(list(dict.fromkeys(keys)), max_keys):
            answer = await self.call(station_id, "GetConfiguration", {"key": part})
            entries, missing = parse_get_configuration(answer)
            answered = {e.key for e in entries}
            found.update({e.key: (e.value, e.readonly) for e in entries})
            unknown += [*missing, *absent_keys(part, answered, missing)]
        return found, unknown

    async def read_keys(
        self, station_id: str, keys: Iterable[str], previous: SnapshotRecord | None
    ) -> KeyRead:
        """Read some keys now (under every spelling of aliased keys)."""
        max_keys, _ = await self.page_size(station_id, previous)
        names = [name for key in keys for name in spellings(key)]
        found, unknown = await self.read(station_id, names, max_keys)
        return KeyRead({k: v for k, (v, _) in found.items()}, tuple(unknown))
