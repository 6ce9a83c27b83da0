"""Remote configuration service: snapshots, the change queue, reboots and verification.

One worker task per station (created on demand, owned by the service's TaskGroup) does all the
station's configuration work in order: after a boot or a (re)connect it waits a moment (pacing:
strict stations drop the link under a burst of calls right after boot), takes a snapshot (which
smart charging waits for: `SnapshotTaken` carries the station's capabilities), verifies changes
that waited for the reboot, then sends queued changes in order, then resets the station if a
change needs it and the policy allows (`when-idle` waits for the last transaction to stop). Calls
go through `registry.call`, which keeps one CALL in flight per station and owns the timeout.

Every stored snapshot is also compared with the verified changes: a value that moved away (a
reboot, a local edit) marks its change `drifted`, logged once. The BootNotification answer's
`interval` comes from `heartbeat_interval`, so a HeartbeatInterval the operator set survives the
station's reboots.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from csms import events
from csms.config import changes as ch
from csms.config import desired
from csms.config.catalog import CATALOG, lookup, spellings
from csms.config.license import LicenseWorkflow
from csms.config.scn_service import ScnService
from csms.config.snapshot import (
    FALLBACK_MAX_KEYS,
    ConfigEntry,
    chunks,
    follow_up_keys,
    max_keys_of,
    parse_get_configuration,
)
from csms.config.store import ChangeRecord, ConfigStore, NewChange, SnapshotRecord
from csms.config.validation import check_value, licence_warnings
from csms.ocpp.errors import CallErrorReceived, CallFailed, StationOffline
from csms.storage.records import ConnectorRecord, TransactionRecord

if TYPE_CHECKING:
    from csms.app import CentralSystem

log = logging.getLogger(__name__)


class StationUnknown(LookupError):
    """The station id has never been registered."""


@dataclass(frozen=True, slots=True)
class KeyRead:
    """Values read for a list of keys; `unknown` are keys the station does not have."""

    values: dict[str, str | None]
    unknown: tuple[str, ...]


class ConfigService:
    """Configuration management of every station; `run()` is started by the central system."""

    def __init__(
        self,
        cs: CentralSystem,
        *,
        boot_delay_s: float = 2.0,
        reboot_timeout_s: float = 300.0,
        parallel_snapshots: int = 8,
    ) -> None:
        self.cs = cs
        self.store = ConfigStore(cs.db)
        self.boot_delay_s = boot_delay_s
        self.reboot_timeout_s = reboot_timeout_s
        self._slots = asyncio.Semaphore(parallel_snapshots)
        self._workers: dict[str, _StationWorker] = {}
        self._group: asyncio.TaskGroup | None = None
        self._progress = asyncio.Condition()
        # Futures of API requests waiting for the station's answer to their change.
        self._answered: dict[int, tuple[str, asyncio.Future[ChangeRecord]]] = {}
        self._settle_hooks: list[Any] = []
        self._boot_hooks: list[Any] = []
        self.started = asyncio.Event()
        self.license = LicenseWorkflow(self)
        self.scn = ScnService(self)

    # -- service loop --------------------------------------------------------------------------
    async def run(self) -> None:
        queue = self.cs.bus.subscribe()
        try:
            await self.store.interrupt_running_jobs(self.cs.clock())
            async with asyncio.TaskGroup() as group:
                self._group = group
                self.started.set()
                for station_id in self.cs.registry.online_ids():
                    self._worker(station_id).wake(booted=True, at=self.cs.clock())
                while True:
                    self._on_event(await queue.get())
        finally:
            self.cs.bus.unsubscribe(queue)
            self._group = None

    def _on_event(self, event: events.Event) -> None:
        if isinstance(event, events.StationBooted):
            self._worker(event.station_id).wake(booted=True, at=event.at)
        elif isinstance(event, events.StationConnected):
            self._worker(event.station_id).wake(connected=True)
        elif isinstance(event, events.TransactionStopped) and event.station_id in self._workers:
            self._workers[event.station_id].wake()

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        """Run a job (SCN apply) in the service's TaskGroup, so nothing is fire-and-forget."""
        if self._group is None:
            coro.close()
            raise RuntimeError("configuration service is not running")
        return self._group.create_task(coro, name=name)

    def _worker(self, station_id: str) -> _StationWorker:
        worker = self._workers.get(station_id)
        if worker is None:
            worker = _StationWorker(self, station_id)
            self._workers[station_id] = worker
            self.spawn(worker.run(), f"config-{station_id}")
        return worker

    def add_settle_hook(self, hook: Any) -> None:
        """`await hook(record, snapshot_or_none)` whenever a change reaches a settled state."""
        self._settle_hooks.append(hook)

    def add_boot_hook(self, hook: Any) -> None:
        """`await hook(snapshot, booted_at)` after each post-boot snapshot and verification."""
        self._boot_hooks.append(hook)

    def kick(self, station_id: str) -> None:
        """Have the station's worker look at its queue now."""
        self._worker(station_id).wake()

    # -- reading -----------------------------------------------------------------------------
    async def require_station(self, station_id: str) -> None:
        if await self.cs.store.stations.get(station_id) is None:
            raise StationUnknown(f"station {station_id} not found")

    async def take_snapshot(self, station_id: str, reason: str) -> SnapshotRecord:
        """Read every key (split by GetConfigurationMaxKeys when needed) and store the snapshot.

        Raises `CallFailed` (e.g. `StationOffline`) when the station cannot be read.
        """
        async with self._slots:
            read_from = self.cs.clock()
            previous = await self.store.latest_snapshot(station_id)
            known = previous.values if previous else {}
            entries: list[ConfigEntry]
            unknown: list[str]
            try:
                entries, unknown = parse_get_configuration(
                    await self.cs.registry.call(station_id, "GetConfiguration", {})
                )
                max_keys = max_keys_of(entries)
            except CallErrorReceived as exc:
                # Some stations cannot answer "all keys" in one frame: ask key by key list.
                log.info(
                    "%s: full GetConfiguration refused (%s); reading in parts", station_id, exc
                )
                entries, unknown, max_keys = [], [], None
            wanted = [*known, *CATALOG]
            missing = follow_up_keys((e.key for e in entries), unknown, wanted, max_keys)
            if missing:
                if max_keys is None:
                    max_keys = await self._max_keys(station_id, previous)
                extra = await self._read(station_id, missing, max_keys)
                entries += [ConfigEntry(k, v, ro) for k, (v, ro) in extra[0].items()]
                unknown += extra[1]
            snapshot = await self.store.add_snapshot(
                station_id, self.cs.clock(), reason, entries, sorted(set(unknown))
            )
        self.cs.bus.publish(
            events.SnapshotTaken(station_id, self.cs.clock(), snapshot.id, reason, snapshot.values)
        )
        await self._mark_drift(snapshot, read_from)
        return snapshot

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
            await self._set(
                found.change, state=found.state, reported_value=found.reported, detail=found.detail
            )

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

    async def _max_keys(self, station_id: str, previous: SnapshotRecord | None) -> int:
        if previous is not None:
            value = max_keys_of(previous.entries)
            if value:
                return value
        answer = await self.cs.registry.call(
            station_id, "GetConfiguration", {"key": ["GetConfigurationMaxKeys"]}
        )
        return max_keys_of(parse_get_configuration(answer)[0]) or FALLBACK_MAX_KEYS

    async def _read(
        self, station_id: str, keys: Sequence[str], max_keys: int
    ) -> tuple[dict[str, tuple[str | None, bool]], list[str]]:
        found: dict[str, tuple[str | None, bool]] = {}
        unknown: list[str] = []
        for part in chunks(list(dict.fromkeys(keys)), max_keys):
            answer = await self.cs.registry.call(station_id, "GetConfiguration", {"key": part})
            entries, missing = parse_get_configuration(answer)
            found.update({e.key: (e.value, e.readonly) for e in entries})
            unknown += missing
        return found, unknown

    async def read_keys(self, station_id: str, keys: Iterable[str]) -> KeyRead:
        """Read some keys now (under every spelling of aliased keys)."""
        previous = await self.store.latest_snapshot(station_id)
        max_keys = await self._max_keys(station_id, previous)
        names = [name for key in keys for name in spellings(key)]
        found, unknown = await self._read(station_id, names, max_keys)
        return KeyRead({k: v for k, (v, _) in found.items()}, tuple(unknown))

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
        records = await self.store.add_changes(station_id, new, policy, origin, self.cs.clock())
        futures = []
        if wait_answer and self.cs.registry.is_online(station_id):
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

    def _answer(self, record: ChangeRecord) -> None:
        entry = self._answered.pop(record.id, None)
        if entry is not None and not entry[1].done():
            entry[1].set_result(record)

    async def _release(self, station_id: str) -> None:
        """Answer every waiting request of a station with its change's current state."""
        ids = [cid for cid, (sid, _) in self._answered.items() if sid == station_id]
        for record in await self.store.changes_by_id(ids):
            self._answer(record)

    async def _set(self, record: ChangeRecord, **fields: Any) -> ChangeRecord:
        now = self.cs.clock()
        if fields.get("state") in ch.SETTLED_STATES and record.finished_at is None:
            fields.setdefault("finished_at", now)
        updated = await self.store.update_change(record.id, now, **fields)
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
        station_id = record.station_id
        try:
            answer = await self.cs.registry.call(
                station_id, "ChangeConfiguration", {"key": record.key, "value": record.value}
            )
        except StationOffline:
            raise
        except CallFailed as exc:
            record = await self._set(record, state=ch.FAILED, detail=str(exc))
            await self._settled(record, None)
            return record
        status = str(answer.get("status"))
        spec = lookup(record.key)
        state = ch.state_after_answer(status, spec, record.reboot_policy)  # type: ignore[arg-type]
        detail = {
            ch.REBOOT_PENDING: f"reboot pending ({record.reboot_policy})",
            ch.REBOOT_REQUIRED: "takes effect after the station reboots (policy never)",
            ch.ACCEPTED: "write-only key: cannot be read back",
        }.get(state)
        record = await self._set(
            record, state=state, status=status, sent_at=self.cs.clock(), detail=detail
        )
        if state == ch.VERIFYING:
            record = await self._verify_now(record)
        if record.state in ch.SETTLED_STATES:
            await self._settled(record, None)
        return record

    async def _verify_now(self, record: ChangeRecord) -> ChangeRecord:
        try:
            read = await self.read_keys(record.station_id, [record.key])
        except StationOffline:
            return record  # verified from the snapshot after it reconnects
        except CallFailed as exc:
            return await self._set(record, state=ch.NOT_VERIFIED, detail=f"read back failed: {exc}")
        return await self._apply_verification(record, read.values)

    async def _apply_verification(
        self, record: ChangeRecord, values: dict[str, str | None]
    ) -> ChangeRecord:
        name = next((s for s in spellings(record.key) if s in values), None)
        reported = values.get(name) if name else None
        state, detail = ch.verify(record.key, record.value, name is not None, reported)
        return await self._set(record, state=state, reported_value=reported, detail=detail)

    async def verify_after_boot(self, snapshot: SnapshotRecord, booted_at: float) -> None:
        """After a boot the snapshot shows whether values that waited for a reboot took effect.

        Only changes sent before that boot are judged by it.
        """
        waiting = await self.store.changes(snapshot.station_id, states=ch.AWAITING_BOOT)
        for record in waiting:
            if record.sent_at is None or record.sent_at > booted_at:
                continue
            record = await self._apply_verification(record, snapshot.values)
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
            answer = await self.cs.registry.call(station_id, "Reset", {"type": kind})
            status = str(answer.get("status"))
            if status == "Accepted":
                worker.reset_sent()
            waiting = await self.store.changes(
                station_id, states=[ch.REBOOT_PENDING, ch.REBOOT_REQUIRED]
            )
            for record in waiting:
                if status == "Accepted":
                    await self._set(record, state=ch.REBOOTING, detail=f"{kind} reset sent")
                else:
                    await self._set(
                        record, state=ch.REBOOT_REQUIRED, detail=f"station answered Reset {status}"
                    )
        return status


class _StationWorker:
    """Does one station's configuration work, in order, whenever something happens to it."""

    def __init__(self, service: ConfigService, station_id: str) -> None:
        self.service = service
        self.station_id = station_id
        self._wake = asyncio.Event()
        self._booted = False
        self._connected = False
        self._reset_at: float | None = None
        self._booted_at = 0.0
        # Serialises a Reset (and marking its changes) with the verification after a boot.
        self.lock = asyncio.Lock()

    def wake(self, booted: bool = False, connected: bool = False, at: float = 0.0) -> None:
        if booted:
            self._booted = True
            self._booted_at = at
        self._connected |= connected
        self._wake.set()

    def reset_sent(self) -> None:
        # A network timeout, so the event loop's monotonic clock, not the domain clock.
        self._reset_at = asyncio.get_running_loop().time()

    def _since_reset(self) -> float:
        assert self._reset_at is not None
        return asyncio.get_running_loop().time() - self._reset_at

    async def run(self) -> None:
        while True:
            timeout = None
            if self._reset_at is not None:
                timeout = max(0.0, self.service.reboot_timeout_s - self._since_reset())
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self._step()
            except StationOffline:
                log.info("%s went offline during configuration work", self.station_id)
            except CallFailed as exc:
                # A CALLERROR (e.g. NotImplemented for GetConfiguration) or a timeout: the
                # station's answer, not our failure. Logged and kept with its events.
                log.warning("%s: configuration work stopped: %s", self.station_id, exc)
                with contextlib.suppress(Exception):  # the log line above is the record then
                    await self.service.cs.store.events.record(
                        self.station_id, "ConfigurationWorkFailed", {"error": str(exc)}, self._now()
                    )
            except Exception:
                log.exception("%s: configuration work failed", self.station_id)
            finally:
                if not self.service.cs.registry.is_online(self.station_id):
                    await self.service._release(self.station_id)

    def _now(self) -> float:
        return self.service.cs.clock()

    async def _step(self) -> None:
        service, sid = self.service, self.station_id
        no_boot = self._reset_at is not None and self._since_reset() >= service.reboot_timeout_s
        if not service.cs.registry.is_online(sid):
            if no_boot:
                self._reset_at = None  # it reboots when it comes back; that boot verifies
            return
        connected = self._connected
        if self._booted or connected:
            self._connected = False
            await asyncio.sleep(service.boot_delay_s)  # pace post-boot work
        if self._booted or no_boot:
            # A Reset that brought no BootNotification: judge the changes by a fresh read.
            reason, at = ("boot", self._booted_at) if self._booted else ("verify", self._now())
            self._booted = False
            self._reset_at = None
            snapshot = await service.take_snapshot(sid, reason)
            async with self.lock:
                await service.verify_after_boot(snapshot, at)
        elif connected:
            # A reconnect without a boot: smart charging still needs the capabilities read in
            # this connection before it sends a profile.
            await service.take_snapshot(sid, "connect")
        for record in await service.store.changes(sid, states=[ch.QUEUED]):
            service._answer(await service.send_change(record))
        await self._maybe_reset()

    async def _maybe_reset(self) -> None:
        service, sid = self.service, self.station_id
        pending = await service.store.changes(sid, states=[ch.REBOOT_PENDING])
        if not pending:
            return
        running = await service.cs.store.transactions.running(sid)
        running = _still_running(running, await service.cs.store.stations.connectors(sid))
        if not ch.reset_due((r.reboot_policy for r in pending), len(running)):
            ids = ", ".join(str(t.id) for t in running)
            detail = f"reboot waits until transaction {ids} ends (when-idle)"
            for record in pending:
                if record.detail != detail:
                    await service._set(record, detail=detail)
            return
        status = await service.reset(sid, "Soft")
        log.info("%s: Reset Soft for %d change(s): %s", sid, len(pending), status)


def _still_running(
    transactions: Sequence[TransactionRecord], connectors: Sequence[ConnectorRecord]
) -> list[TransactionRecord]:
    """Open transactions that may really be charging.

    A StopTransaction can be lost for good (a station replaced, its queue wiped); such a
    transaction would block a `when-idle` reboot forever. One whose connector has reported
    Available since it started is over, whatever the table says.
    """
    available_since = {c.connector_id: c.updated_at for c in connectors if c.status == "Available"}
    return [
        t
        for t in transactions
        if available_since.get(t.connector_id, float("-inf")) <= t.created_at
    ]
