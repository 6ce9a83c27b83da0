"""A simulated Alfen Eve station: an OCPP 1.6J client over websockets, usable as a library.

```python
clock = SimClock(speed=10)
station = SimStation("ALF-0001", "ws://127.0.0.1:9000/ocpp", sockets=2, clock=clock,
                     config={"MeterValueSampleInterval": "10"})
await station.start()
await station.wait_booted()
station.plug_in(1, SimEv(max_current_a=16, phases=1))
...
await station.stop()
```

One task per station runs the connection (connect, BootNotification, then an outbox of messages
sent one CALL at a time); the `ocpp` library's receive loop answers the central system's CALLs
(`csms.sim.protocol`). Time-driven work (energy, limits, meter samples, heartbeats) happens on the
clock's shared tick. Transaction messages survive disconnects and are sent after reconnecting;
status notifications and meter values do not (statuses are re-sent after every boot).
Reset: StopTransaction for running sessions, close the socket, wait `reboot_delay_s` (simulated),
apply pending configuration, reconnect and boot again; plugged-in EVs start new sessions.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import uuid
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.v16 import call
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from csms.sim import smart_charging as sc
from csms.sim.clock import SimClock
from csms.sim.configuration import StationConfiguration
from csms.sim.ev import SimEv
from csms.sim.model import Connector, Sample, StationModel, StatusChanged, StopInfo, sampled_values
from csms.sim.phases import Triple, add

log = logging.getLogger(__name__)

SUBPROTOCOL = Subprotocol("ocpp1.6")
MODELS = {1: "NG910-60023", 2: "NG920-61023"}


@dataclass
class _Job:
    """One outgoing CALL (or a short exchange) waiting in the outbox."""

    name: str
    run: Callable[[Any], Awaitable[None]]
    persistent: bool = False  # transaction messages survive a disconnect
    attempts: int = 0


@dataclass
class _TxRecord:
    """A session's transaction as the station sent it; the id arrives with the answer."""

    connector_id: int
    id_tag: str
    meter_start_wh: int
    started_at: float
    transaction_id: int | None = None
    remote_profile: Mapping[str, Any] | None = None


class _Wire:
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


async def _cancel_all(tasks: list[asyncio.Task[Any]]) -> list[BaseException]:
    """Cancel `tasks`, wait until every one has ended and return their exceptions.

    One `cancel()` is not always enough on Python 3.11: `asyncio.wait_for` (inside the `ocpp`
    library's `call`) swallows a cancellation that races with its result, leaving the task
    running. So cancel again until done, and finish even if we are cancelled meanwhile.
    """
    pending = {t for t in tasks if not t.done()}
    interrupted = False
    while pending:
        for task in pending:
            task.cancel()
        try:
            _, pending = await asyncio.wait(pending, timeout=0.5)
        except asyncio.CancelledError:
            interrupted = True
    errors = [e for t in tasks if not t.cancelled() and (e := t.exception()) is not None]
    if interrupted:
        raise asyncio.CancelledError
    return errors


class SimStation:
    """A simulated Alfen Eve Single (`sockets=1`) or Double (`sockets=2`).

    `config` sets initial key values (read-only ones too, e.g. ChargeProfileMaxStackLevel "5");
    `unlocked_features` the licensed feature bits at start; `reject_tx_profile` makes it refuse
    TxProfiles like some stations do; `record_frames` keeps every frame in `frames`.

    Firmware behaviours seen on real stations: the `interval` of an accepted BootNotification
    becomes the HeartbeatInterval key (always); `unphased_current` reports `Current.Import` as one
    value for the outlet without a `phase` (the EV's current per phase); `strict_boot` answers
    every CALL that arrives before its BootNotification was answered with a CALLERROR
    `SecurityError` and records its action in `refused_before_boot`.
    """

    def __init__(
        self,
        station_id: str,
        url: str,
        *,
        sockets: int = 1,
        phase_connected: str = "L1L2L3",
        password: str | None = None,
        clock: SimClock | None = None,
        config: Mapping[str, str] | None = None,
        unlocked_features: int = 0,
        reject_tx_profile: bool = False,
        vendor: str = "Alfen BV",
        model: str | None = None,
        firmware: str = "5.8.1-4123",
        serial: str | None = None,
        reboot_delay_s: float = 2.0,
        record_frames: bool = False,
        response_timeout: float = 30.0,
        strict_boot: bool = False,
        unphased_current: bool = False,
    ) -> None:
        self.station_id = station_id
        self.url = url.rstrip("/") + "/" + station_id
        self.clock = clock or SimClock()
        overrides = {"Phase-Connected": phase_connected, **(config or {})}
        self.config = StationConfiguration(sockets, overrides, unlocked_features)
        self.model = StationModel.for_station(station_id, sockets, self.config, self.clock.now())
        self.model.reject_tx_profile = reject_tx_profile
        self.sockets = sockets
        self.password = password
        self.vendor = vendor
        self.model_name = model or MODELS[sockets]
        self.firmware = firmware
        self.serial = serial or f"ACE{zlib.crc32(station_id.encode()) % 10**7:07d}"
        self.reboot_delay_s = reboot_delay_s
        self.response_timeout = response_timeout
        self.strict_boot = strict_boot
        self.unphased_current = unphased_current
        # Actions of CALLs refused because they came before the BootNotification answer.
        self.refused_before_boot: list[str] = []
        self._boot_answered = False  # in this connection
        self.frames: list[tuple[str, str]] = []
        self._record = record_frames
        self.registration_status: str | None = None
        self.boots = 0  # BootNotifications answered Accepted
        self.connects = 0
        self.resets: list[str] = []
        self.last_error: str | None = None
        self._jobs: deque[_Job] = deque()
        self._wake = asyncio.Event()
        self._booted = asyncio.Event()
        self._boot_trigger = asyncio.Event()
        self._reboot_type: str | None = None
        self._records: dict[int, _TxRecord] = {}
        self._last_heartbeat = 0.0
        self._heartbeat_queued = False
        self._task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._deferred: list[Callable[[], object]] = []
        self._result_hooks: dict[str, Callable[[dict[str, Any]], None]] = {}
        self._changed = asyncio.Event()  # set on every state change, for wait_for()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (and keep reconnecting) in a background task owned by this station."""
        if self._task is not None and not self._task.done():
            return
        self.clock.subscribe(self._on_tick)
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"sim-station-{self.station_id}"
        )

    async def stop(self) -> None:
        """Disconnect and stop (like cutting the power; no StopTransaction is sent).

        The websocket is closed with 1001 (going away) rather than dropped, so servers log a
        normal close.
        """
        self.clock.unsubscribe(self._on_tick)
        task, self._task = self._task, None
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(1001, "station stopped"), 2)
        if task is not None:
            await _cancel_all([task])
        self._booted.clear()

    async def wait_booted(self, within_s: float = 10.0) -> None:
        """Wait until a BootNotification was answered Accepted (raises TimeoutError)."""
        await asyncio.wait_for(self._booted.wait(), within_s)

    @property
    def booted(self) -> bool:
        return self._booted.is_set()

    @property
    def boot_answered(self) -> bool:
        """Whether the central system answered a BootNotification in this connection."""
        return self._boot_answered

    def refuse_before_boot(self, action: str) -> bool:
        """Whether to refuse a CALL now (strict boot, not answered yet); records the refusal."""
        if not self.strict_boot or self._boot_answered:
            return False
        self.refused_before_boot.append(action)
        self._changed.set()
        return True

    @property
    def connected(self) -> bool:
        return self._ws is not None

    async def wait_for(self, predicate: Callable[[], bool], within_s: float = 10.0) -> None:
        """Wait until `predicate()` holds, re-checked after every change (raises TimeoutError)."""
        async with asyncio.timeout(within_s):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def wait_transaction(self, connector_id: int, within_s: float = 10.0) -> int:
        """The id of the transaction on `connector_id` once the central system answered it."""
        await self.wait_for(lambda: self.transaction_id(connector_id) is not None, within_s)
        tx = self.transaction_id(connector_id)
        assert tx is not None
        return tx

    # -- EVs and sessions -----------------------------------------------------------------------

    def plug_in(self, connector_id: int, ev: SimEv) -> None:
        """Plug `ev` in; with an id tag it authorizes and starts a transaction."""
        self._sync()
        id_tag = self.model.plug_in(connector_id, ev)
        self._sync()
        if id_tag is not None:
            remote = self.model.connector(connector_id).remote_profile
            self._start_session(connector_id, id_tag, authorize=True, profile=remote)

    def unplug(self, connector_id: int) -> None:
        """Unplug the EV; a running transaction stops (EVDisconnected): Finishing, Available."""
        self._sync()
        if self.model.connector(connector_id).in_session:
            self._stop_session(connector_id, "EVDisconnected")
        self.model.unplug(connector_id)
        self._sync()

    def stop_transaction(self, connector_id: int, reason: str = "Local") -> None:
        """The driver ends the session at the station (the EV stays plugged in: Finishing)."""
        self._sync()
        if not self.model.connector(connector_id).in_session:
            raise ValueError(f"no session runs on connector {connector_id}")
        self._stop_session(connector_id, reason)

    # -- observed state -------------------------------------------------------------------------

    def connector(self, connector_id: int) -> Connector:
        return self.model.connector(connector_id)

    def status(self, connector_id: int) -> str:
        return self.model.connector(connector_id).status

    def applied_current(self, connector_id: int) -> float:
        """Current offered to the socket (A per phase; 0 = paused)."""
        return self.model.connector(connector_id).offered_a

    def ev_current(self, connector_id: int) -> float:
        """Current the EV draws per phase."""
        return self.model.connector(connector_id).current_a

    def grid_currents(self, connector_id: int | None = None) -> Triple:
        """Grid-phase currents (L1, L2, L3) of one socket, or of the whole station."""
        if connector_id is not None:
            return self.model.connector(connector_id).grid_a
        total: Triple = (0.0, 0.0, 0.0)
        for c in self.model.connectors.values():
            total = add(total, c.grid_a)
        return total

    def energy_wh(self, connector_id: int) -> float:
        """The socket's energy register (lifetime, Wh)."""
        return self.model.connector(connector_id).meter_wh

    def transaction_id(self, connector_id: int) -> int | None:
        return self.model.connector(connector_id).transaction_id

    @property
    def transactions(self) -> dict[int, int]:
        """Running transactions: connector id → transaction id."""
        return {
            cid: c.transaction_id
            for cid, c in self.model.connectors.items()
            if c.transaction_id is not None
        }

    @property
    def profiles(self) -> tuple[sc.ChargingProfile, ...]:
        return self.model.profiles

    @property
    def meter_lost(self) -> bool:
        return self.model.meter_lost

    @meter_lost.setter
    def meter_lost(self, lost: bool) -> None:
        """Lose/restore the station's own ALB meter: with Active-LoadBalancing On it falls back to
        Safe-MaxCurrent and reports connector 0 Faulted (vendor error 210) until restored."""
        self._sync()
        self.model.meter_lost = lost
        self._sync()

    # -- time -----------------------------------------------------------------------------------

    def _on_tick(self, now: float) -> None:
        self._sync(now)
        interval = self.config.integer("HeartbeatInterval")
        if self.booted and not self._heartbeat_queued and now - self._last_heartbeat >= interval:
            self._enqueue_heartbeat()

    def _sync(self, now: float | None = None) -> None:
        """Bring the model to the clock's time and queue what changed."""
        self._changed.set()
        for event in self.model.step(self.clock.now() if now is None else now):
            if isinstance(event, StatusChanged):
                self._enqueue_status(event.connector_id, event.status, event)
            elif isinstance(event, Sample):
                self._enqueue_sample(event)

    # -- the outbox -----------------------------------------------------------------------------

    def _enqueue(self, job: _Job) -> None:
        self._jobs.append(job)
        self._wake.set()

    def _enqueue_status(
        self, connector_id: int, status: str, detail: StatusChanged | None = None
    ) -> None:
        async def run(cp: Any) -> None:
            await cp.call(
                call.StatusNotification(
                    connector_id=connector_id,
                    error_code=detail.error_code if detail else "NoError",
                    status=status,
                    timestamp=sc.format_time(self.clock.now()),
                    info=detail.info if detail else None,
                    vendor_error_code=detail.vendor_error_code if detail else None,
                ),
                suppress=False,
            )

        self._enqueue(_Job(f"StatusNotification {connector_id} {status}", run))

    def _enqueue_sample(self, sample: Sample) -> None:
        measurands = [
            m.strip() for m in self.config.value("MeterValuesSampledData").split(",") if m.strip()
        ]
        values = sampled_values(sample, measurands, unphased=self.unphased_current)
        if not values:
            return
        meter_value = [{"timestamp": sc.format_time(sample.at), "sampledValue": values}]

        async def run(cp: Any) -> None:
            await cp.call(
                call.MeterValues(
                    connector_id=sample.connector_id,
                    meter_value=meter_value,
                    transaction_id=sample.transaction_id,
                ),
                suppress=False,
            )

        self._enqueue(_Job(f"MeterValues {sample.connector_id}", run))

    def _enqueue_heartbeat(self) -> None:
        self._heartbeat_queued = True
        self._last_heartbeat = self.clock.now()

        async def run(cp: Any) -> None:
            self._heartbeat_queued = False
            await cp.call(call.Heartbeat(), suppress=False)

        self._enqueue(_Job("Heartbeat", run))

    def _start_session(
        self,
        connector_id: int,
        id_tag: str,
        *,
        authorize: bool,
        profile: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue Authorize (optional) + StartTransaction; charging begins when it is sent."""
        record: _TxRecord | None = None

        async def run(cp: Any) -> None:
            nonlocal record
            if record is None:
                if not self.model.can_start(connector_id):
                    return
                if authorize:
                    answer = await cp.call(call.Authorize(id_tag=id_tag), suppress=False)
                    if answer.id_tag_info.get("status") != "Accepted":
                        log.info("%s: id tag %s not accepted", self.station_id, id_tag)
                        return
                    if not self.model.can_start(connector_id):
                        return
                self._sync()
                meter_start = self.model.begin_session(connector_id, id_tag)
                record = _TxRecord(connector_id, id_tag, meter_start, self.model.now)
                record.remote_profile = profile
                self._records[connector_id] = record
                self._sync()
            if record.transaction_id is not None:
                return
            started = record

            def on_answer(payload: dict[str, Any]) -> None:
                # Runs in the receive loop as the answer arrives, so a SetChargingProfile for
                # the new transaction right behind it already finds it (as on a real station).
                tx_id = payload.get("transactionId")
                if not isinstance(tx_id, int) or started.transaction_id is not None:
                    return
                started.transaction_id = tx_id
                if self._records.get(connector_id) is started:
                    self._sync()
                    self.model.transaction_started(connector_id, tx_id)
                    self._changed.set()

            unique_id = str(uuid.uuid4())
            self._result_hooks[unique_id] = on_answer
            try:
                answer = await cp.call(
                    call.StartTransaction(
                        connector_id=connector_id,
                        id_tag=id_tag,
                        meter_start=record.meter_start_wh,
                        timestamp=sc.format_time(record.started_at),
                    ),
                    suppress=False,
                    unique_id=unique_id,
                )
            finally:
                self._result_hooks.pop(unique_id, None)
            on_answer({"transactionId": answer.transaction_id})
            if self._records.get(connector_id) is not record:
                return  # the session already ended; its StopTransaction follows in the outbox
            if answer.id_tag_info.get("status") != "Accepted":
                self._stop_session(connector_id, "DeAuthorized")
                return
            if record.remote_profile is not None:
                data = {**record.remote_profile, "transactionId": answer.transaction_id}
                decision = self.model.set_profile(connector_id, data)
                log.info("%s: remote start profile %s", self.station_id, decision.reason)
            self._sync()

        self._enqueue(_Job(f"StartTransaction {connector_id}", run, persistent=True))

    def _stop_session(self, connector_id: int, reason: str) -> StopInfo:
        """End the session now and queue its StopTransaction."""
        self._sync()
        stop = self.model.end_session(connector_id, reason)
        record = self._records.pop(connector_id, None)
        self._sync()

        async def run(cp: Any) -> None:
            if record is None or record.transaction_id is None:
                log.warning("%s: session on %d ended before it got a transaction id",
                            self.station_id, connector_id)  # fmt: skip
                return
            await cp.call(
                call.StopTransaction(
                    meter_stop=stop.meter_stop_wh,
                    timestamp=sc.format_time(stop.at),
                    transaction_id=record.transaction_id,
                    reason=stop.reason,
                    id_tag=stop.id_tag,
                ),
                suppress=False,
            )

        self._enqueue(_Job(f"StopTransaction {connector_id}", run, persistent=True))
        return stop

    def on_call_result(self, unique_id: str, payload: Any) -> None:
        """A CALLRESULT arrived (called by the receive loop before the waiting call resumes)."""
        hook = self._result_hooks.pop(unique_id, None)
        if hook is not None and isinstance(payload, dict):
            hook(payload)

    # -- deferred work (after the answer to a CALL is sent) -------------------------------------

    def defer(self, action: Callable[[], object]) -> None:
        """Run `action` once the answer to the CALL being handled has been sent."""
        self._deferred.append(action)

    def run_deferred(self) -> None:
        actions, self._deferred = self._deferred, []
        for action in actions:
            action()

    def request_reset(self, kind: str) -> None:
        self._reboot_type = kind
        self._wake.set()

    def trigger_boot(self) -> None:
        if self.booted:

            async def run(cp: Any) -> None:
                await cp.call(self._boot_notification(), suppress=False)

            self._enqueue(_Job("BootNotification", run))
        else:
            self._boot_trigger.set()

    # -- the connection -------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        password = self.config.value("AuthorizationKey") or self.password
        if not password:
            return {}
        token = base64.b64encode(f"{self.station_id}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                async with connect(
                    self.url,
                    subprotocols=[SUBPROTOCOL],
                    additional_headers=self._headers(),
                    open_timeout=10,
                    close_timeout=2,
                    # WebSocketPingInterval in real seconds (a network matter; 0 = no pings).
                    ping_interval=self.config.integer("WebSocketPingInterval") or None,
                    compression=None,
                    proxy=None,
                    max_queue=64,
                ) as ws:
                    failures = 0
                    self.connects += 1
                    self._ws = ws
                    self._boot_answered = False
                    try:
                        await self._session(ws)
                    finally:
                        self._ws = None
                        self._booted.clear()
            except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError) as exc:
                failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.info("%s: connection failed: %s", self.station_id, self.last_error)
            if self._reboot_type is not None:
                await self._reboot()
                continue
            delay = min(10.0, 0.2 * 2 ** min(failures, 6)) * random.uniform(0.8, 1.2)
            await asyncio.sleep(delay)

    async def _session(self, ws: ClientConnection) -> None:
        from csms.sim.protocol import StationProtocol

        cp = StationProtocol(self, _Wire(ws, self.frames if self._record else None))
        receiver = asyncio.create_task(cp.start(), name=f"sim-recv-{self.station_id}")
        worker = asyncio.create_task(self._work(cp), name=f"sim-work-{self.station_id}")
        try:
            await asyncio.wait({receiver, worker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            errors = await _cancel_all([receiver, worker])
        for error in errors:
            if not isinstance(error, ConnectionClosed):
                log.error("%s: session ended by %r", self.station_id, error)

    def _boot_notification(self) -> call.BootNotification:
        return call.BootNotification(
            charge_point_model=self.model_name,
            charge_point_vendor=self.vendor,
            charge_point_serial_number=self.serial,
            firmware_version=self.firmware,
            meter_type="Alfen internal",
        )

    def _boot_answer_arrived(self, payload: dict[str, Any]) -> None:
        # Runs in the receive loop as the answer arrives, so a CALL right behind it is accepted.
        self._boot_answered = True

    async def _boot(self, cp: Any) -> None:
        while True:
            self._boot_trigger.clear()
            unique_id = str(uuid.uuid4())
            self._result_hooks[unique_id] = self._boot_answer_arrived
            try:
                answer = await cp.call(
                    self._boot_notification(), suppress=False, unique_id=unique_id
                )
            finally:
                self._result_hooks.pop(unique_id, None)
            self.registration_status = answer.status
            if answer.status == "Accepted":
                if answer.interval > 0:
                    self.config.set_internal("HeartbeatInterval", str(answer.interval))
                return
            wait = answer.interval if answer.interval > 0 else 60
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._boot_trigger.wait(), wait / self.clock.speed)

    async def _work(self, cp: Any) -> None:
        """Boot, then send the outbox one CALL at a time until a reset is requested."""
        await self._boot(cp)
        self.boots += 1
        # Statuses from before this boot are stale; send the current ones first.
        self._jobs = deque(job for job in self._jobs if job.persistent)
        self._sync()
        fresh = [self.model.station_state()] + [
            StatusChanged(cid, c.status) for cid, c in self.model.connectors.items()
        ]
        backlog = list(self._jobs)
        self._jobs.clear()
        for status in fresh:
            self._enqueue_status(status.connector_id, status.status, status)
        self._jobs.extend(backlog)
        self._heartbeat_queued = False
        self._last_heartbeat = self.clock.now()
        self._booted.set()
        while True:
            if self._reboot_type is not None:
                await self._prepare_reboot(cp)
                return
            if not self._jobs:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._run_job(cp, self._jobs[0])

    async def _run_job(self, cp: Any, job: _Job) -> None:
        try:
            await job.run(cp)
        except TimeoutError:
            job.attempts += 1
            attempts = self.config.integer("TransactionMessageAttempts")
            if job.persistent and job.attempts < max(1, attempts):
                log.warning("%s: %s timed out; retrying", self.station_id, job.name)
                return
            log.warning("%s: %s timed out; dropped", self.station_id, job.name)
        except OCPPError as exc:
            log.warning("%s: %s answered with an error: %s", self.station_id, job.name, exc)
        if self._jobs and self._jobs[0] is job:
            self._jobs.popleft()
        self._changed.set()

    async def _prepare_reboot(self, cp: Any) -> None:
        kind = self._reboot_type or "Soft"
        for cid, c in self.model.connectors.items():
            if c.in_session:
                self._stop_session(cid, f"{kind}Reset")
        if kind == "Soft":
            # A soft reset ends transactions gracefully before restarting.
            while self._jobs and any(job.persistent for job in self._jobs):
                job = self._jobs[0]
                if job.persistent:
                    await self._run_job(cp, job)
                else:
                    self._jobs.popleft()

    async def _reboot(self) -> None:
        kind = self._reboot_type or "Soft"
        self.resets.append(kind)
        log.info("%s: rebooting (%s reset)", self.station_id, kind)
        await self.clock.sleep(self.reboot_delay_s)
        self.config.reboot()
        self._reboot_type = None
        self._sync()
        for cid, c in self.model.connectors.items():
            c.finishing = False
            if c.ev is not None and c.ev.id_tag is not None and not c.in_session:
                self._start_session(cid, c.ev.id_tag, authorize=True)
        self._sync()
