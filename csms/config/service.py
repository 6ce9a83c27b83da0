"""Remote configuration service: snapshots, the change queue, reboots and verification.

What happens to a change is decided purely in csms/config/workflow.py (`StationFlow` and the
judgments on change records); one `StationWorker` per station (csms/config/worker.py, created on
demand, owned by the service's TaskGroup) runs the flow's commands. This module is the service's
face: it routes domain events to the workers, queues changes, reads and stores snapshots, stores
the marks the judgments return and answers the API requests waiting for them.

Every stored snapshot is also compared with the verified changes: a value that moved away (a
reboot, a local edit) marks its change `drifted`, logged once. The BootNotification answer's
`interval` comes from `heartbeat_interval`, so a HeartbeatInterval the operator set survives the
station's reboots.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, TypeGuard

from csms import events
from csms.config import changes as ch
from csms.config import desired
from csms.config import workflow as wf
from csms.config.catalog import spellings
from csms.config.interfaces import StationUnknown
from csms.config.license import LicenseWorkflow
from csms.config.pacing import PacingRule, SnapshotGate
from csms.config.reading import KeyRead, KeyReader
from csms.config.records import ChangeRecord, NewChange, SnapshotRecord
from csms.config.repository import ConfigRepository
from csms.config.scn.apply import ScnService
from csms.config.snapshot import full_check_due
from csms.config.validation import check_value, licence_warnings
from csms.config.worker import StationWorker
from csms.events import EventBus
from csms.ocpp.errors import CallFailed, StationOffline
from csms.ocpp.link import StationLink
from csms.storage import Store

log = logging.getLogger(__name__)

SettleHook = Callable[[ChangeRecord, SnapshotRecord | None], Awaitable[None]]
BootHook = Callable[[SnapshotRecord, float], Awaitable[None]]


class ConfigService:
    """Configuration management of every station; `run()` is started by the central system."""

    def __init__(
        self,
        link: StationLink,
        records: Store,
        bus: EventBus,
        clock: Callable[[], float],
        *,
        boot_delay_s: float = 2.0,
        reboot_timeout_s: float = 300.0,
        pacing: PacingRule | None = None,
        lag: Callable[[], float] = lambda: 0.0,
    ) -> None:
        """`link` reaches the stations, `records` holds their rows (and the database of the
        snapshots and changes), `bus` brings station events and takes `SnapshotTaken`; `lag()`
        is how late the event loop runs (csms/looplag.py), which paces the snapshots."""
        self.link = link
        self.records = records
        self.bus = bus
        self.clock = clock
        self.store = ConfigRepository(records.db)
        self.boot_delay_s = boot_delay_s
        self.reboot_timeout_s = reboot_timeout_s
        # Adaptive: see csms/config/pacing.py.
        self.snapshot_gate = SnapshotGate(pacing, lag=lag)
        self.reader = KeyReader(link.call)
        self._workers: dict[str, StationWorker] = {}
        self._group: asyncio.TaskGroup | None = None
        self._progress = asyncio.Condition()
        # Futures of API requests waiting for the station's answer to their change.
        self._answered: dict[int, tuple[str, asyncio.Future[ChangeRecord]]] = {}
        self._settle_hooks: list[SettleHook] = []
        self._boot_hooks: list[BootHook] = []
        # Each station's firmware at its last boot: another one makes a snapshot a full check.
        self._firmwares: dict[str, str | None] = {}
        self.started = asyncio.Event()
        self.license = LicenseWorkflow(self)
        self.scn = ScnService(self)

    # -- service loop --------------------------------------------------------------------------
    async def run(self) -> None:
        queue = self.bus.subscribe(
            events.StationBooted,
            events.StationConnected,
            events.TransactionStopped,
            events.ConnectorStatusChanged,
        )
        try:
            await self.store.interrupt_running_jobs(self.clock())
            async with asyncio.TaskGroup() as group:
                self._group = group
                self.started.set()
                for station_id in self.link.online_ids():
                    self._booted(station_id, self.clock())
                while True:
                    self._on_event(await queue.get())
        finally:
            self.bus.unsubscribe(queue)
            self._group = None

    def _on_event(self, event: events.Event) -> None:
        if isinstance(event, events.StationBooted):
            self._firmwares[event.station_id] = event.firmware
            self._booted(event.station_id, event.at)
        elif isinstance(event, events.StationConnected):
            self._worker(event.station_id).connected()
        elif _may_end_a_wait(event) and event.station_id in self._workers:
            # A reboot waiting for the station to be idle may go now; a connector reported
            # Available also ends a transaction whose StopTransaction was lost.
            self._workers[event.station_id].wake()

    def _booted(self, station_id: str, at: float) -> None:
        self._worker(station_id).booted(at)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run a job (SCN apply) in the service's TaskGroup, so nothing is fire-and-forget."""
        if self._group is None:
            coro.close()
            raise RuntimeError("configuration service is not running")
        return self._group.create_task(coro, name=name)

    def _worker(self, station_id: str) -> StationWorker:
        worker = self._workers.get(station_id)
        if worker is None:
            worker = StationWorker(self, station_id)
            self._workers[station_id] = worker
        return worker

    def add_settle_hook(self, hook: SettleHook) -> None:
        """`await hook(record, snapshot_or_none)` whenever a change reaches a settled state."""
        self._settle_hooks.append(hook)

    def add_boot_hook(self, hook: BootHook) -> None:
        """`await hook(snapshot, booted_at)` after each post-boot snapshot and verification."""
        self._boot_hooks.append(hook)

    # -- reading -----------------------------------------------------------------------------
    async def require_station(self, station_id: str) -> None:
        if await self.records.stations.get(station_id) is None:
            raise StationUnknown(f"station {station_id} not found")

    async def take_snapshot(self, station_id: str, reason: str) -> SnapshotRecord:
        """Read every key (split by GetConfigurationMaxKeys when needed) and store the snapshot.

        What the latest snapshot learnt is used (csms/config/reading.py); the keys it found
        unknown are asked again only when a full check is due (`snapshot.full_check_due`).
        Raises `CallFailed` (e.g. `StationOffline`) when the station cannot be read.
        """
        async with self.snapshot_gate.slot():
            read_from = self.clock()
            previous = await self.store.latest_snapshot(station_id)
            firmware = await self._firmware(station_id)
            full = previous is None or full_check_due(
                previous.full_read_at, previous.full_read_firmware, firmware, read_from
            )
            read = await self.reader.read_all(station_id, previous, full)
            checked = (read_from, firmware) if read.full else _last_check(previous)
            snapshot = await self.store.add_snapshot(
                station_id,
                self.clock(),
                reason,
                read.entries,
                sorted(set(read.unknown)),
                previous,
                *checked,
            )
        self.bus.publish(
            events.SnapshotTaken(station_id, self.clock(), snapshot.id, reason, snapshot.values)
        )
        await self._mark_drift(snapshot, read_from)
        return snapshot

    async def _firmware(self, station_id: str) -> str | None:
        """The firmware the station booted with last (from its BootNotification)."""
        if station_id not in self._firmwares:
            record = await self.records.stations.get(station_id)
            self._firmwares[station_id] = None if record is None else record.firmware_version
        return self._firmwares[station_id]

    async def _mark_drift(self, snapshot: SnapshotRecord, read_from: float) -> None:
        changes = await self.store.changes(snapshot.station_id)
        for found in desired.drift(changes, snapshot.values, snapshot.id, read_from):
            if found.state == ch.DRIFTED:
                log.warning(
                    "%s: %s %s (change %d)",
                    snapshot.station_id,
                    found.change.key,
                    found.detail,
                    found.change.id,
                )
            await self.apply(wf.drift_mark(found), found.change)

    async def heartbeat_interval(self, station_id: str, default: int) -> int:
        """The interval for a BootNotification answer (the station applies it to its
        HeartbeatInterval): the operator's latest wanted change, else the latest snapshot's
        value, else `default`. A failed lookup answers `default` rather than failing the boot."""
        try:
            changes = await self.store.changes(station_id)
            snapshot = await self.store.latest_snapshot(station_id)
        except Exception:
            log.exception(
                "%s: desired HeartbeatInterval unknown; answering %d", station_id, default
            )
            return default
        values = None if snapshot is None else snapshot.values
        return desired.heartbeat_interval(changes, values, default)

    async def read_keys(self, station_id: str, keys: Iterable[str]) -> KeyRead:
        """Read some keys now (under every spelling of aliased keys)."""
        previous = await self.store.latest_snapshot(station_id)
        return await self.reader.read_keys(station_id, keys, previous)

    # -- changes -----------------------------------------------------------------------------
    async def prepare(self, station_id: str, key: str, value: str, force: bool) -> NewChange:
        """Validate a change (raises `InvalidValue`) and attach licence warnings."""
        checked = check_value(key, value, force=force)
        latest = await self.store.latest_snapshot(station_id)
        warnings = list(checked.warnings)
        name = checked.key
        if latest is not None:
            values = latest.values
            # Write the spelling this station uses for aliased keys.
            name = next((s for s in spellings(key) if s in values), name)
            warnings += licence_warnings(
                checked.spec, checked.value, values.get("UnlockedFeatures")
            )
        return NewChange(name, checked.value, force, tuple(warnings))

    async def submit(
        self,
        station_id: str,
        new: Sequence[NewChange],
        policy: ch.RebootPolicy = ch.DEFAULT_REBOOT_POLICY,
        origin: str = "api",
        wait_answer: bool = True,
    ) -> list[ChangeRecord]:
        """Queue changes (in one write) and, when the station is online, wait for its answers.

        Returns the records: with the station's answer, or still `queued` when it is offline (the
        worker sends them in order once it connects, also while the station is Pending).
        """
        records = await self.store.add_changes(station_id, new, policy, origin, self.clock())
        futures = []
        if wait_answer and self.link.is_online(station_id):
            loop = asyncio.get_running_loop()
            for record in records:
                future: asyncio.Future[ChangeRecord] = loop.create_future()
                self._answered[record.id] = (station_id, future)
                futures.append(future)
        self._worker(station_id).wake()
        if not futures:
            return records
        try:
            return list(await asyncio.gather(*futures))
        finally:
            for record in records:
                self._answered.pop(record.id, None)

    def answer_waiting(self, record: ChangeRecord) -> None:
        """Answer the API request waiting for this change, if any."""
        entry = self._answered.pop(record.id, None)
        if entry is not None and not entry[1].done():
            entry[1].set_result(record)

    async def release(self, station_id: str) -> None:
        """Answer every waiting request of a station with its change's current state."""
        ids = [cid for cid, (sid, _) in self._answered.items() if sid == station_id]
        for record in await self.store.changes_by_id(ids):
            self.answer_waiting(record)

    async def apply(self, mark: wf.Mark, record: ChangeRecord | None = None) -> ChangeRecord:
        """Store a mark (a settled state also sets `finished_at`) and wake `wait_settled`."""
        now = self.clock()
        fields = mark.fields(now)
        if mark.state in ch.SETTLED_STATES:
            if record is None:
                record = await self.store.change(mark.change_id)
            if record is not None and record.finished_at is None:
                fields["finished_at"] = now
        updated = await self.store.update_change(mark.change_id, now, **fields)
        async with self._progress:
            self._progress.notify_all()
        return updated

    async def _settled(self, record: ChangeRecord, snapshot: SnapshotRecord | None) -> None:
        for hook in self._settle_hooks:
            try:
                await hook(record, snapshot)
            except Exception:
                log.exception("%s: settle hook failed for change %s", record.station_id, record.id)

    async def wait_settled(self, change_ids: Sequence[int]) -> list[ChangeRecord]:
        """Wait until every change is settled (final, or waiting for a user's reset)."""
        async with self._progress:
            while True:
                records = await self.store.changes_by_id(change_ids)
                if all(r.state in ch.SETTLED_STATES for r in records):
                    return records
                await self._progress.wait()

    async def send_change(self, record: ChangeRecord) -> ChangeRecord:
        """Send one queued change and follow the answer; `StationOffline` leaves it queued."""
        try:
            answer = await self.link.call(
                record.station_id, "ChangeConfiguration", {"key": record.key, "value": record.value}
            )
        except StationOffline:
            raise
        except CallFailed as exc:
            record = await self.apply(wf.call_failed_mark(record, str(exc)), record)
            await self._settled(record, None)
            return record
        record = await self.apply(wf.answer_mark(record, str(answer.get("status"))), record)
        if record.state == ch.VERIFYING:
            record = await self._read_back(record)
        if record.state in ch.SETTLED_STATES:
            await self._settled(record, None)
        return record

    async def _read_back(self, record: ChangeRecord) -> ChangeRecord:
        try:
            read = await self.read_keys(record.station_id, [record.key])
        except StationOffline:
            return record  # verified from the snapshot after it reconnects
        except CallFailed as exc:
            return await self.apply(wf.read_back_failed_mark(record, str(exc)), record)
        return await self.apply(wf.read_back_mark(record, read.values), record)

    async def verify_after_boot(self, snapshot: SnapshotRecord, booted_at: float) -> None:
        """After a boot the snapshot shows whether values that waited for a reboot took effect.

        Only changes sent before that boot are judged by it.
        """
        waiting = await self.store.changes(snapshot.station_id, states=ch.AWAITING_BOOT)
        by_id = {record.id: record for record in waiting}
        for mark in wf.boot_marks(waiting, snapshot.values, booted_at):
            record = await self.apply(mark, by_id[mark.change_id])
            await self._settled(record, snapshot)
        for hook in self._boot_hooks:
            try:
                await hook(snapshot, booted_at)
            except Exception:
                log.exception("%s: boot hook failed", snapshot.station_id)

    # -- resets ------------------------------------------------------------------------------
    async def reset(self, station_id: str, kind: str = "Soft") -> str:
        """Send Reset; when accepted, changes waiting for a reboot are marked `rebooting`.

        Holds the station's lock so a quick reboot's verification cannot run before the
        changes are marked.
        """
        worker = self._worker(station_id)
        async with worker.lock:
            answer = await self.link.call(station_id, "Reset", {"type": kind})
            status = str(answer.get("status"))
            if status == "Accepted":
                worker.reset_accepted()
            waiting = await self.store.changes(
                station_id, states=[ch.REBOOT_PENDING, ch.REBOOT_REQUIRED]
            )
            by_id = {record.id: record for record in waiting}
            for mark in wf.reset_answer_marks(status, kind, waiting):
                await self.apply(mark, by_id[mark.change_id])
        return status


def _last_check(previous: SnapshotRecord | None) -> tuple[float | None, str | None]:
    """The full check a read that was not one carries on from the previous snapshot."""
    if previous is None:
        return None, None
    return previous.full_read_at, previous.full_read_firmware


def _may_end_a_wait(
    event: events.Event,
) -> TypeGuard[events.TransactionStopped | events.ConnectorStatusChanged]:
    if isinstance(event, events.TransactionStopped):
        return True
    return isinstance(event, events.ConnectorStatusChanged) and event.status == "Available"
