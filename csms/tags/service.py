"""Id-tag management for the operator, the answer to Authorize, and local-list syncing.

`TagService` keeps the tag table; every change queues a local-list sync of every online station
whose configuration snapshot shows an enabled local list (and so does each new snapshot, taken
at every boot). `run()` is the sync worker: one station at a time, GetLocalListVersion, then
the SendLocalList `plan_update` chose (differential when the station holds what we sent, full
after a mismatch).
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from csms import events
from csms.ocpp.errors import CallErrorReceived, CallFailed
from csms.ocpp.link import StationLink
from csms.tags.model import (
    REMOVED,
    TAG_STATUSES,
    IdTagInfo,
    Tag,
    id_tag_info,
    iso,
    plan_update,
)
from csms.tags.repository import LocalListState, TagRepository

log = logging.getLogger(__name__)

CSV_COLUMNS = ("id_tag", "status", "expiry", "parent_id_tag", "station_id", "note")
MAX_ID_TAG = 20
"""OCPP 1.6 IdToken: CiString20."""


class TagError(ValueError):
    """A tag change the operator asked for is invalid (the API answers 4xx with the message)."""


class TagNotFound(TagError):
    pass


@dataclass(frozen=True, slots=True)
class SyncResult:
    """One station's local list after a sync."""

    station_id: str
    list_version: int
    """Our version of the list."""
    station_version: int | None
    """What the station reported (after our update, when one was sent)."""
    sent: str | None
    """"Full", "Differential" or None (already in step)."""
    status: str
    """The station's answer to SendLocalList, "InSync", "NotSupported" or "Offline"."""


def parse_time(text: str) -> float:
    """Epoch seconds from ISO 8601 (a date alone is midnight UTC); TagError when invalid."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise TagError(f"{text!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def validate(tag: Tag) -> Tag:
    """The tag if it is well formed; TagError naming what is wrong."""
    if not tag.id_tag or len(tag.id_tag) > MAX_ID_TAG or tag.id_tag != tag.id_tag.strip():
        raise TagError(f"id tag {tag.id_tag!r} must be 1-{MAX_ID_TAG} characters, no spaces")
    if tag.status not in TAG_STATUSES:
        raise TagError(f"tag status {tag.status!r} is not one of {', '.join(TAG_STATUSES)}")
    if tag.parent_id_tag is not None and (
        not tag.parent_id_tag or len(tag.parent_id_tag) > MAX_ID_TAG
    ):
        raise TagError(f"parent id tag {tag.parent_id_tag!r} must be 1-{MAX_ID_TAG} characters")
    if tag.parent_id_tag == tag.id_tag:
        raise TagError(f"id tag {tag.id_tag} cannot be its own parent")
    return tag


def supports_local_list(values: dict[str, str | None]) -> bool:
    """Whether a configuration snapshot shows the Local Auth List Management profile with the
    list enabled."""
    profiles = (values.get("SupportedFeatureProfiles") or "").split(",")
    enabled = (values.get("LocalAuthListEnabled") or "true").strip().lower() == "true"
    return "LocalAuthListManagement" in [p.strip() for p in profiles] and enabled


class TagService:
    """The tag table, Authorize's answer, and the local-list sync worker."""

    def __init__(
        self,
        repo: TagRepository,
        link: StationLink,
        bus: events.EventBus,
        clock: Callable[[], float],
        *,
        accept_unknown: bool,
    ) -> None:
        self.repo = repo
        self.link = link
        self.bus = bus
        self.clock = clock
        self.accept_unknown = accept_unknown
        self._pending: dict[str, list[asyncio.Future[SyncResult]]] = {}
        self._wake = asyncio.Event()
        # Stations whose configuration snapshot shows an enabled local list; only these are
        # synced on their own (an operator's `sync` tries any station).
        self._supported: dict[str, bool] = {}

    # -- Authorize ---------------------------------------------------------------------------
    async def id_tag_info(self, station_id: str, id_tag: str) -> dict[str, Any]:
        """The idTagInfo for Authorize / StartTransaction / StopTransaction (OCPP JSON)."""
        return (await self.decide(station_id, id_tag)).to_ocpp()

    async def decide(self, station_id: str | None, id_tag: str) -> IdTagInfo:
        tag = await self.repo.get(id_tag)
        parent = None
        if tag is not None and tag.parent_id_tag:
            parent = await self.repo.get(tag.parent_id_tag)
        return id_tag_info(
            tag, parent, station_id, self.clock(), accept_unknown=self.accept_unknown
        )

    # -- the operator's changes --------------------------------------------------------------
    async def tags(self) -> list[Tag]:
        return await self.repo.all()

    async def get(self, id_tag: str) -> Tag:
        tag = await self.repo.get(id_tag)
        if tag is None or tag.removed:
            raise TagNotFound(f"id tag {id_tag} not found")
        return tag

    async def put(self, tags: Iterable[Tag]) -> list[Tag]:
        """Add or replace tags (all or none), then sync the stations' lists."""
        checked = [validate(t) for t in tags]
        ids = [t.id_tag for t in checked]
        if len(ids) != len(set(ids)):
            raise TagError("an id tag appears twice")
        await self.repo.put(checked, self.clock())
        self.sync_all()
        return [await self.get(i) for i in ids]

    async def set_status(self, id_tag: str, status: str) -> Tag:
        if status not in (*TAG_STATUSES, REMOVED):
            raise TagError(f"tag status {status!r} is not one of {', '.join(TAG_STATUSES)}")
        if not await self.repo.set_status(id_tag, status, self.clock()):
            raise TagNotFound(f"id tag {id_tag} not found")
        self.sync_all()
        tag = await self.repo.get(id_tag)
        assert tag is not None
        return tag

    async def remove(self, id_tag: str) -> None:
        await self.set_status(id_tag, REMOVED)

    def export_csv(self, tags: Iterable[Tag]) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for t in tags:
            expiry = "" if t.expiry_at is None else iso(t.expiry_at)
            row = [t.id_tag, t.status, expiry, t.parent_id_tag, t.station_id, t.note]
            writer.writerow(["" if v is None else v for v in row])
        return out.getvalue()

    def parse_csv(self, text: str) -> list[Tag]:
        """Tags from CSV with a header (`CSV_COLUMNS`; only id_tag is required)."""
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None or "id_tag" not in reader.fieldnames:
            raise TagError(f"the CSV needs a header line with id_tag (columns: {CSV_COLUMNS})")
        unknown = set(reader.fieldnames) - set(CSV_COLUMNS)
        if unknown:
            raise TagError(f"unknown CSV columns: {', '.join(sorted(unknown))}")
        tags = []
        for line, row in enumerate(reader, start=2):
            try:
                expiry = (row.get("expiry") or "").strip()
                tags.append(
                    validate(
                        Tag(
                            id_tag=(row.get("id_tag") or "").strip(),
                            status=(row.get("status") or "Accepted").strip(),
                            expiry_at=parse_time(expiry) if expiry else None,
                            parent_id_tag=(row.get("parent_id_tag") or "").strip() or None,
                            station_id=(row.get("station_id") or "").strip() or None,
                            note=(row.get("note") or "").strip() or None,
                        )
                    )
                )
            except TagError as exc:
                raise TagError(f"CSV line {line}: {exc}") from None
        return tags

    # -- local lists -------------------------------------------------------------------------
    def sync_all(self) -> None:
        """Queue a sync of every online station that keeps a local list."""
        for station_id in self.link.online_ids():
            if self._supported.get(station_id):
                self._pending.setdefault(station_id, [])
        self._wake.set()

    async def sync(self, station_id: str) -> SyncResult:
        """Queue a sync of one station and wait for its result."""
        future: asyncio.Future[SyncResult] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(station_id, []).append(future)
        self._wake.set()
        return await future

    async def local_list(self, station_id: str) -> LocalListState | None:
        return await self.repo.local_list(station_id)

    async def list_version(self) -> int:
        return await self.repo.list_version()

    async def run(self) -> None:
        """Sync stations as they boot and as tags change, one at a time."""
        queue = self.bus.subscribe(events.SnapshotTaken)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._watch(queue))
                while True:
                    await self._wake.wait()
                    self._wake.clear()
                    while self._pending:
                        station_id, waiters = self._pending.popitem()
                        result = await self._sync_one(station_id)
                        for waiter in waiters:
                            if not waiter.done():
                                waiter.set_result(result)
        finally:
            self.bus.unsubscribe(queue)

    async def _watch(self, queue: asyncio.Queue[events.Event]) -> None:
        while True:
            event = await queue.get()
            if isinstance(event, events.SnapshotTaken):
                supported = supports_local_list(event.values)
                self._supported[event.station_id] = supported
                if supported:
                    self._pending.setdefault(event.station_id, [])
                    self._wake.set()

    async def _sync_one(self, station_id: str) -> SyncResult:
        version = await self.repo.list_version()
        if not self.link.is_online(station_id):
            return SyncResult(station_id, version, None, None, "Offline")
        try:
            return await self._exchange(station_id, version)
        except CallErrorReceived as exc:
            log.info("%s: local list not supported (%s)", station_id, exc)
            return await self._record(station_id, version, -1, None, "NotSupported", 0)
        except CallFailed as exc:
            log.warning("%s: local list sync failed: %s", station_id, exc)
            return SyncResult(station_id, version, None, None, f"Failed: {exc}")

    async def _exchange(self, station_id: str, version: int) -> SyncResult:
        answer = await self.link.call(station_id, "GetLocalListVersion", {})
        station_version = int(answer.get("listVersion", -1))
        if station_version < 0:
            return await self._record(station_id, version, -1, None, "NotSupported", 0)
        known = await self.repo.local_list(station_id)
        sent_version = None if known is None or known.status != "Accepted" else known.sent_version
        tags = await self.repo.all(include_removed=True)
        update = plan_update(tags, station_id, version, station_version, sent_version, self.clock())
        if update is None:
            return await self._record(station_id, version, station_version, None, "InSync", version)
        if known is not None and known.status == "Accepted" and update.update_type == "Full":
            log.warning(
                "%s: local list version %s, we sent %s: sending the full list",
                station_id,
                station_version,
                known.sent_version,
            )
        answer = await self.link.call(station_id, "SendLocalList", update.payload())
        status = str(answer.get("status"))
        if status == "Accepted":
            return await self._record(
                station_id, version, version, update.update_type, status, version
            )
        log.warning("%s: SendLocalList %s answered %s", station_id, update.update_type, status)
        sent = sent_version if sent_version is not None else 0
        result = await self._record(
            station_id, version, station_version, update.update_type, status, sent
        )
        if status == "VersionMismatch" and update.update_type == "Differential":
            # Forget what we sent: the next round sends the full list.
            await self.repo.record_local_list(
                LocalListState(station_id, 0, station_version, status, self.clock())
            )
            self._pending.setdefault(station_id, [])
            self._wake.set()
        return result

    async def _record(
        self,
        station_id: str,
        version: int,
        station_version: int | None,
        sent: str | None,
        status: str,
        sent_version: int,
    ) -> SyncResult:
        stored = "Accepted" if status in ("Accepted", "InSync") else status
        await self.repo.record_local_list(
            LocalListState(station_id, sent_version, station_version, stored, self.clock())
        )
        return SyncResult(station_id, version, station_version, sent, status)


class TagOperations(Protocol):
    """What the API uses of the tag service."""

    async def tags(self) -> list[Tag]: ...
    async def get(self, id_tag: str) -> Tag: ...
    async def put(self, tags: Iterable[Tag]) -> list[Tag]: ...
    async def set_status(self, id_tag: str, status: str) -> Tag: ...
    async def remove(self, id_tag: str) -> None: ...
    def export_csv(self, tags: Iterable[Tag]) -> str: ...
    def parse_csv(self, text: str) -> list[Tag]: ...
    async def decide(self, station_id: str | None, id_tag: str) -> IdTagInfo: ...
    async def sync(self, station_id: str) -> SyncResult: ...
    async def local_list(self, station_id: str) -> LocalListState | None: ...
    async def list_version(self) -> int: ...
