"""Reading a station's keys through GetConfiguration: whole snapshots and key lists.

Stations differ: some answer "all keys" in one frame, some cut the answer at
`GetConfigurationMaxKeys`, some refuse it with a CALLERROR. The reader completes a cut answer with
the keys it knows (the previous snapshot's and the catalog's) in requests of at most
`GetConfigurationMaxKeys` keys. The splitting rules are pure (csms/config/snapshot.py).
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
    chunks,
    follow_up_keys,
    max_keys_of,
    parse_get_configuration,
)
from csms.ocpp.errors import CallErrorReceived

log = logging.getLogger(__name__)

Call = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class KeyRead:
    """Values read for a list of keys; `unknown` are keys the station does not have."""

    values: dict[str, str | None]
    unknown: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FullRead:
    """Every key a station reported in one snapshot read."""

    entries: list[ConfigEntry]
    unknown: list[str]


class KeyReader:
    """Reads keys of stations through `call` (e.g. `StationRegistry.call`)."""

    def __init__(self, call: Call) -> None:
        self.call = call

    async def read_all(self, station_id: str, previous: SnapshotRecord | None) -> FullRead:
        """Every key of the station; `previous` names keys to ask for when the answer is cut.

        Raises `CallFailed` (e.g. `StationOffline`) when the station cannot be read.
        """
        known = previous.values if previous else {}
        entries: list[ConfigEntry]
        unknown: list[str]
        max_keys: int | None
        try:
            entries, unknown = parse_get_configuration(
                await self.call(station_id, "GetConfiguration", {})
            )
            max_keys = max_keys_of(entries)
        except CallErrorReceived as exc:
            # Some stations cannot answer "all keys" in one frame: ask key by key list.
            log.info("%s: full GetConfiguration refused (%s); reading in parts", station_id, exc)
            entries, unknown, max_keys = [], [], None
        wanted = [*known, *CATALOG]
        missing = follow_up_keys((e.key for e in entries), unknown, wanted, max_keys)
        if missing:
            if max_keys is None:
                max_keys = await self.max_keys(station_id, previous)
            found, not_found = await self.read(station_id, missing, max_keys)
            entries += [ConfigEntry(k, v, ro) for k, (v, ro) in found.items()]
            unknown += not_found
        return FullRead(entries, unknown)

    async def max_keys(self, station_id: str, previous: SnapshotRecord | None) -> int:
        """The station's GetConfigurationMaxKeys: from `previous`, else asked for."""
        if previous is not None:
            value = max_keys_of(previous.entries)
            if value:
                return value
        answer = await self.call(
            station_id, "GetConfiguration", {"key": ["GetConfigurationMaxKeys"]}
        )
        return max_keys_of(parse_get_configuration(answer)[0]) or FALLBACK_MAX_KEYS

    async def read(
        self, station_id: str, keys: Sequence[str], max_keys: int
    ) -> tuple[dict[str, tuple[str | None, bool]], list[str]]:
        """(key → (value, readonly), unknown keys) for `keys`, in requests of `max_keys`."""
        found: dict[str, tuple[str | None, bool]] = {}
        unknown: list[str] = []
        for part in chunks(list(dict.fromkeys(keys)), max_keys):
            answer = await self.call(station_id, "GetConfiguration", {"key": part})
            entries, missing = parse_get_configuration(answer)
            found.update({e.key: (e.value, e.readonly) for e in entries})
            unknown += missing
        return found, unknown

    async def read_keys(
        self, station_id: str, keys: Iterable[str], previous: SnapshotRecord | None
    ) -> KeyRead:
        """Read some keys now (under every spelling of aliased keys)."""
        max_keys = await self.max_keys(station_id, previous)
        names = [name for key in keys for name in spellings(key)]
        found, unknown = await self.read(station_id, names, max_keys)
        return KeyRead({k: v for k, (v, _) in found.items()}, tuple(unknown))
