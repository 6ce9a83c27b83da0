"""A simulated station's link to the central system: connect, boot, then send the outbox.

One task per station (`StationConnection.run`) connects (with backoff and jitter on failures),
sends the BootNotification, then sends the outbox one CALL at a time, while the `ocpp` library's
receive loop (`csms.sim.protocol`) answers the central system's CALLs. Transaction messages
survive a disconnect and are sent after reconnecting; status notifications and meter values do not
(the station re-sends its statuses after every boot). A requested reset ends the connection:
running sessions are stopped (a soft reset sends their StopTransactions first), the station is
off for `reboot_delay_s` simulated seconds, then it restarts and connects again.

What the station does (its model, its sessions, its configuration) stays in `SimStation`; this
module knows only how its messages travel.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError
from ocpp.v16 import call
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from csms.sim.model import StatusChanged
from csms.sim.protocol import StationProtocol
from csms.sim.tasks import cancel_all

if TYPE_CHECKING:
    from csms.sim.station import SimStation

log = logging.getLogger(__name__)

SUBPROTOCOL = Subprotocol("ocpp1.6")

ResultHook = Callable[[dict[str, Any]], None]


@dataclass
class Job:
    """One outgoing CALL (or a short exchange) waiting in the outbox."""

    name: str
    run: Callable[[Any], Awaitable[None]]
    persistent: bool = False  # transaction messages survive a disconnect
    attempts: int = 0


class Outbox:
    """The station's CALLs waiting to be sent, oldest first; the head is the one in flight."""

    def __init__(self) -> None:
        self._jobs: deque[Job] = deque()
        self._wake = asyncio.Event()

    def __len__(self) -> int:
        return len(self._jobs)

    def put(self, job: Job) -> None:
        self._jobs.append(job)
        self._wake.set()

    def wake(self) -> None:
        """Wake the sender without a new job (e.g. to notice a reset request)."""
        self._wake.set()

    async def wait(self) -> None:
        """Wait until something is put or the sender is woken."""
        self._wake.clear()
        await self._wake.wait()

    def head(self) -> Job:
        return self._jobs[0]

    def done(self, job: Job) -> None:
        """Remove `job` if it is still at the head (a retried job stays)."""
        if self._jobs and self._jobs[0] is job:
            self._jobs.popleft()

    def drop(self) -> Job:
        return self._jobs.popleft()

    def has_persistent(self) -> bool:
        return any(job.persistent for job in self._jobs)

    def keep_persistent(self) -> None:
        """Drop everything but transaction messages (after a new connection)."""
        self._jobs = deque(job for job in self._jobs if job.persistent)

    def put_first(self, jobs: list[Job]) -> None:
        """Put `jobs` ahead of everything waiting."""
        self._jobs.extendleft(reversed(jobs))
        self._wake.set()


class Wire:
    """The websocket as the `ocpp` library sees it; records every frame when asked to."""

    def __init__(self, ws: ClientConnection, frames: list[tuple[str, str]] | None) -> None:
        self._ws = ws
        self._frames = frames

    async def recv(self) -> str:
        message = await self._ws.recv()
        text = message if isinstance(message, str) else message.decode()
        if self._frames is not None:
            self._frames.append(("in", text))
        return text

    async def send(self, message: str) -> None:
        if self._frames is not None:
            self._frames.append(("out", message))
        await self._ws.send(message)


class StationConnection:
    """The connection of one `SimStation`: its outbox, boot state, heartbeats and resets."""

    def __init__(self, station: SimStation, changed: asyncio.Event) -> None:
        self.station = station
        self.outbox = Outbox()
        self.booted = asyncio.Event()  # a BootNotification was answered Accepted
        self.boot_answered = False  # in this connection
        self.ws: ClientConnection | None = None
        self._changed = changed
        self._boot_trigger = asyncio.Event()
        self._reboot_type: str | None = None
        self._result_hooks: dict[str, ResultHook] = {}
        self._last_heartbeat = 0.0
        self._heartbeat_queued = False

    # -- what the station asks of its connection -------------------------------------------------

    def tick(self, now: float) -> None:
        """Queue a Heartbeat when HeartbeatInterval has passed since the last one."""
        interval = self.station.config.integer("HeartbeatInterval")
        due = now - self._last_heartbeat >= interval
        if self.booted.is_set() and not self._heartbeat_queued and due:
            self.queue_heartbeat()

    def queue_heartbeat(self) -> None:
        self._heartbeat_queued = True
        self._last_heartbeat = self.station.clock.now()

        async def run(cp: Any) -> None:
            self._heartbeat_queued = False
            await cp.call(call.Heartbeat(), suppress=False)

        self.outbox.put(Job("Heartbeat", run))

    def expect_answer(self, unique_id: str, hook: ResultHook) -> None:
        """Run `hook` with the CALLRESULT to `unique_id` as soon as it arrives."""
        self._result_hooks[unique_id] = hook

    def forget_answer(self, unique_id: str) -> None:
        self._result_hooks.pop(unique_id, None)

    def on_call_result(self, unique_id: str, payload: Any) -> None:
        """A CALLRESULT arrived (called by the receive loop before the waiting call resumes)."""
        hook = self._result_hooks.pop(unique_id, None)
        if hook is not None and isinstance(payload, dict):
            hook(payload)

    def request_reset(self, kind: str) -> None:
        self._reboot_type = kind
        self.outbox.wake()

    def trigger_boot(self) -> None:
        """TriggerMessage BootNotification: send one now, or retry a pending boot at once."""
        if self.booted.is_set():

            async def run(cp: Any) -> None:
                await cp.call(self._boot_notification(), suppress=False)

            self.outbox.put(Job("BootNotification", run))
        else:
            self._boot_trigger.set()

    # -- the connection ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, and reconnect after every failure or reset, until cancelled."""
        station = self.station
        failures = 0
        while True:
            try:
                async with connect(
                    station.url,
                    subprotocols=[SUBPROTOCOL],
                    additional_headers=self._headers(),
                    open_timeout=10,
                    close_timeout=2,
                    # WebSocketPingInterval in real seconds (a network matter; 0 = no pings).
                    ping_interval=station.config.integer("WebSocketPingInterval") or None,
                    compression=None,
                    proxy=None,
                    max_queue=64,
                ) as ws:
                    failures = 0
                    station.connects += 1
                    self.ws = ws
                    self.boot_answered = False
                    try:
                        await self._session(ws)
                    finally:
                        self.ws = None
                        self.booted.clear()
            except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError) as exc:
                failures += 1
                station.last_error = f"{type(exc).__name__}: {exc}"
                log.info("%s: connection failed: %s", station.station_id, station.last_error)
            if self._reboot_type is not None:
                await self._reboot()
                continue
            delay = min(10.0, 0.2 * 2 ** min(failures, 6)) * random.uniform(0.8, 1.2)
            await asyncio.sleep(delay)

    def _headers(self) -> dict[str, str]:
        station = self.station
        password = station.config.value("AuthorizationKey") or station.password
        if not password:
            return {}
        token = base64.b64encode(f"{station.station_id}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def _session(self, ws: ClientConnection) -> None:
        station = self.station
        cp = StationProtocol(station, Wire(ws, station.frames if station.record_frames else None))
        receiver = asyncio.create_task(cp.start(), name=f"sim-recv-{station.station_id}")
        worker = asyncio.create_task(self._work(cp), name=f"sim-work-{station.station_id}")
        try:
            await asyncio.wait({receiver, worker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            errors = await cancel_all([receiver, worker])
        for error in errors:
            if not isinstance(error, ConnectionClosed):
                log.error("%s: session ended by %r", station.station_id, error)

    def _boot_notification(self) -> call.BootNotification:
        station = self.station
        return call.BootNotification(
            charge_point_model=station.model_name,
            charge_point_vendor=station.vendor,
            charge_point_serial_number=station.serial,
            firmware_version=station.firmware,
            meter_type="Alfen internal",
        )

    def _boot_answer_arrived(self, payload: dict[str, Any]) -> None:
        # Runs in the receive loop as the answer arrives, so a CALL right behind it is accepted.
        self.boot_answered = True

    async def _boot(self, cp: Any) -> None:
        station = self.station
        while True:
            self._boot_trigger.clear()
            unique_id = str(uuid.uuid4())
            self.expect_answer(unique_id, self._boot_answer_arrived)
            try:
                answer = await cp.call(
                    self._boot_notification(), suppress=False, unique_id=unique_id
                )
            finally:
                self.forget_answer(unique_id)
            station.registration_status = answer.status
            if answer.status == "Accepted":
                if answer.interval > 0:
                    station.config.set_internal("HeartbeatInterval", str(answer.interval))
                return
            wait = answer.interval if answer.interval > 0 else 60
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._boot_trigger.wait(), wait / station.clock.speed)

    async def _work(self, cp: Any) -> None:
        """Boot, then send the outbox one CALL at a time until a reset is requested."""
        station = self.station
        await self._boot(cp)
        station.boots += 1
        # Statuses from before this boot are stale; send the current ones first.
        self.outbox.keep_persistent()
        station.sync()
        model = station.model
        fresh = [model.station_state()] + [
            StatusChanged(cid, c.status) for cid, c in model.connectors.items()
        ]
        self.outbox.put_first([station.status_job(s.connector_id, s.status, s) for s in fresh])
        self._heartbeat_queued = False
        self._last_heartbeat = station.clock.now()
        self.booted.set()
        while True:
            if self._reboot_type is not None:
                await self._prepare_reboot(cp)
                return
            if not len(self.outbox):
                await self.outbox.wait()
                continue
            await self._run_job(cp, self.outbox.head())

    async def _run_job(self, cp: Any, job: Job) -> None:
        station_id = self.station.station_id
        try:
            await job.run(cp)
        except TimeoutError:
            job.attempts += 1
            attempts = self.station.config.integer("TransactionMessageAttempts")
            if job.persistent and job.attempts < max(1, attempts):
                log.warning("%s: %s timed out; retrying", station_id, job.name)
                return
            log.warning("%s: %s timed out; dropped", station_id, job.name)
        except OCPPError as exc:
            log.warning("%s: %s answered with an error: %s", station_id, job.name, exc)
        self.outbox.done(job)
        self._changed.set()

    async def _prepare_reboot(self, cp: Any) -> None:
        kind = self._reboot_type or "Soft"
        self.station.end_sessions(f"{kind}Reset")
        if kind == "Soft":
            # A soft reset ends transactions gracefully before restarting.
            while len(self.outbox) and self.outbox.has_persistent():
                job = self.outbox.head()
                if job.persistent:
                    await self._run_job(cp, job)
                else:
                    self.outbox.drop()

    async def _reboot(self) -> None:
        station = self.station
        kind = self._reboot_type or "Soft"
        station.resets.append(kind)
        log.info("%s: rebooting (%s reset)", station.station_id, kind)
        await station.clock.sleep(station.reboot_delay_s)
        self._reboot_type = None
        station.restart()
