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

The station's behaviour lives here: its model (`csms.sim.model`), its sessions and the messages
they cause. How messages travel is `csms.sim.connection` (connect, BootNotification, then an outbox
sent one CALL at a time; transaction messages survive disconnects, statuses and meter values do
not); the answers to the central system's CALLs are `csms.sim.protocol`, which drives the station
only through its public methods. Time-driven work (energy, limits, meter samples, heartbeats)
happens on the clock's shared tick. Reset: StopTransaction for running sessions, close the socket,
wait `reboot_delay_s` (simulated), apply pending configuration (`restart`), reconnect and boot
again; plugged-in EVs start new sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from ocpp.v16 import call

from csms.sim import messages
from csms.sim import smart_charging as sc
from csms.sim.clock import SimClock
from csms.sim.configuration import StationConfiguration
from csms.sim.connection import Job, StationConnection
from csms.sim.ev import SimEv
from csms.sim.local_list import LocalList
from csms.sim.maintenance import Maintenance
from csms.sim.messages import TxRecord
from csms.sim.model import Connector, Sample, StationModel, StatusChanged, StopInfo, sampled_values
from csms.sim.phases import Triple, add
from csms.sim.reservations import take
from csms.sim.tasks import cancel_all

log = logging.getLogger(__name__)

MODELS = {1: "NG910-60023", 2: "NG920-61023"}


class SimStation:
    """A simulated Alfen Eve Single (`sockets=1`) or Double (`sockets=2`).

    `config` sets initial key values (read-only ones too, e.g. ChargeProfileMaxStackLevel "5");
    `unlocked_features` the licensed feature bits at start; `reject_tx_profile` makes it refuse
    TxProfiles like some stations do; `record_frames` keeps every frame in `frames`.

    Firmware behaviours seen on real stations: the `interval` of an accepted BootNotification
    becomes the HeartbeatInterval key (always); `unphased_current` reports `Current.Import` as one
    value for the outlet without a `phase` (the EV's current per phase); `strict_boot` answers
    every CALL that arrives before its BootNotification was answered with a CALLERROR
    `SecurityError` and records its action in `refused_before_boot`; `whole_list_config`: every
    GetConfiguration is answered with all keys, whatever was asked, none GetConfigurationMaxKeys.
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
        whole_list_config: bool = False,
    ) -> None:
        self.station_id = station_id
        self.url = url.rstrip("/") + "/" + station_id
        self.clock = clock or SimClock()
        overrides = {"Phase-Connected": phase_connected, **(config or {})}
        self.config = StationConfiguration(sockets, overrides, unlocked_features, whole_list_config)
        self.local_list = LocalList()
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
        self.frames: list[tuple[str, str]] = []
        self.record_frames = record_frames
        self.registration_status: str | None = None
        self.boots = 0  # BootNotifications answered Accepted
        self.connects = 0
        self.resets: list[str] = []
        self.last_error: str | None = None
        self.cache_cleared = 0  # ClearCache requests
        self.data_transfers: list[tuple[str | None, str | None]] = []  # (messageId, data)
        self._records: dict[int, TxRecord] = {}
        self._task: asyncio.Task[None] | None = None
        self._deferred: list[Callable[[], object]] = []
        self._changed = asyncio.Event()  # set on every state change, for wait_for()
        self.connection = StationConnection(self, self._changed)
        self.maintenance = Maintenance(self)  # firmware updates and diagnostics uploads

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (and keep reconnecting) in a background task owned by this station."""
        if self._task is not None and not self._task.done():
            return
        self.clock.subscribe(self._on_tick)
        self._task = asyncio.get_running_loop().create_task(
            self.connection.run(), name=f"sim-station-{self.station_id}"
        )

    async def stop(self) -> None:
        """Disconnect and stop (like cutting the power; no StopTransaction is sent).

        The websocket is closed with 1001 (going away) rather than dropped, so servers log a
        normal close.
        """
        self.clock.unsubscribe(self._on_tick)
        await self.maintenance.stop()
        task, self._task = self._task, None
        ws = self.connection.ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(1001, "station stopped"), 2)
        if task is not None:
            await cancel_all([task])
        self.connection.booted.clear()

    async def wait_booted(self, within_s: float = 10.0) -> None:
        """Wait until a BootNotification was answered Accepted (raises TimeoutError)."""
        await asyncio.wait_for(self.connection.booted.wait(), within_s)

    @property
    def booted(self) -> bool:
        return self.connection.booted.is_set()

    @property
    def boot_answered(self) -> bool:
        """Whether the central system answered a BootNotification in this connection."""
        return self.connection.boot_answered

    def refuse_before_boot(self, action: str) -> bool:
        """Whether to refuse a CALL now (strict boot, not answered yet); records the refusal."""
        if not self.strict_boot or self.connection.boot_answered:
            return False
        self.refused_before_boot.append(action)
        self._changed.set()
        return True

    @property
    def connected(self) -> bool:
        return self.connection.ws is not None

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
        self.sync()
        id_tag = self.model.plug_in(connector_id, ev)
        self.sync()
        if id_tag is not None:
            remote = self.model.connector(connector_id).remote_profile
            self.start_session(connector_id, id_tag, authorize=True, profile=remote)

    def unplug(self, connector_id: int) -> None:
        """Unplug the EV; a running transaction stops (EVDisconnected): Finishing, Available."""
        self.sync()
        if self.model.connector(connector_id).in_session:
            self.stop_session(connector_id, "EVDisconnected")
        self.model.unplug(connector_id)
        self.sync()

    def stop_transaction(self, connector_id: int, reason: str = "Local") -> None:
        """The driver ends the session at the station (the EV stays plugged in: Finishing)."""
        self.sync()
        if not self.model.connector(connector_id).in_session:
            raise ValueError(f"no session runs on connector {connector_id}")
        self.stop_session(connector_id, reason)

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
        self.sync()
        self.model.meter_lost = lost
        self.sync()

    # -- time -----------------------------------------------------------------------------------

    def _on_tick(self, now: float) -> None:
        self.sync(now)
        self.connection.tick(now)

    def sync(self, now: float | None = None) -> None:
        """Bring the model to the clock's time (or `now`) and queue the messages that causes."""
        self._changed.set()
        for event in self.model.step(self.clock.now() if now is None else now):
            if isinstance(event, StatusChanged):
                self.queue_status(event.connector_id, event.status, event)
            elif isinstance(event, Sample):
                self.queue_sample(event)

    # -- messages -------------------------------------------------------------------------------

    def status_job(
        self, connector_id: int, status: str, detail: StatusChanged | None = None
    ) -> Job:
        """A StatusNotification for the outbox."""
        return messages.status_notification(connector_id, status, detail, self.clock.now)

    def queue_status(
        self, connector_id: int, status: str, detail: StatusChanged | None = None
    ) -> None:
        """Queue a StatusNotification."""
        self.connection.outbox.put(self.status_job(connector_id, status, detail))

    def queue_sample(self, sample: Sample) -> None:
        """Queue MeterValues with the measurands of MeterValuesSampledData (none: nothing sent)."""
        measurands = [
            m.strip() for m in self.config.value("MeterValuesSampledData").split(",") if m.strip()
        ]
        values = sampled_values(sample, measurands, unphased=self.unphased_current)
        if not values:
            return
        self.connection.outbox.put(messages.meter_values(sample, values))

    def queue_heartbeat(self) -> None:
        """Queue a Heartbeat now (TriggerMessage); the interval restarts from now."""
        self.connection.queue_heartbeat()

    def start_session(
        self,
        connector_id: int,
        id_tag: str,
        *,
        authorize: bool,
        profile: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue Authorize (optional) + StartTransaction; charging begins when it is sent.

        `profile` is a TxProfile from RemoteStartTransaction, installed once the transaction id
        is known.
        """
        record: TxRecord | None = None

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
                self.sync()
                reservation_id = take(self.model.connector(connector_id), id_tag)
                meter_start = self.model.begin_session(connector_id, id_tag)
                record = TxRecord(connector_id, id_tag, meter_start, self.model.now)
                record.reservation_id = reservation_id
                record.remote_profile = profile
                self._records[connector_id] = record
                self.sync()
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
                    self.sync()
                    self.model.transaction_started(connector_id, tx_id)
                    self._changed.set()

            unique_id = str(uuid.uuid4())
            self.connection.expect_answer(unique_id, on_answer)
            try:
                answer = await cp.call(
                    call.StartTransaction(
                        connector_id=connector_id,
                        id_tag=id_tag,
                        meter_start=record.meter_start_wh,
                        timestamp=sc.format_time(record.started_at),
                        reservation_id=record.reservation_id,
                    ),
                    suppress=False,
                    unique_id=unique_id,
                )
            finally:
                self.connection.forget_answer(unique_id)
            on_answer({"transactionId": answer.transaction_id})
            if self._records.get(connector_id) is not record:
                return  # the session already ended; its StopTransaction follows in the outbox
            if answer.id_tag_info.get("status") != "Accepted":
                self.stop_session(connector_id, "DeAuthorized")
                return
            if record.remote_profile is not None:
                data = {**record.remote_profile, "transactionId": answer.transaction_id}
                decision = self.model.set_profile(connector_id, data)
                log.info("%s: remote start profile %s", self.station_id, decision.reason)
            self.sync()

        self.connection.outbox.put(Job(f"StartTransaction {connector_id}", run, persistent=True))

    def stop_session(self, connector_id: int, reason: str) -> StopInfo:
        """End the session now and queue its StopTransaction."""
        self.sync()
        stop = self.model.end_session(connector_id, reason)
        record = self._records.pop(connector_id, None)
        self.sync()
        self.connection.outbox.put(messages.stop_transaction(self.station_id, record, stop))
        return stop

    def end_sessions(self, reason: str) -> None:
        """Stop every running session (before a reset)."""
        for cid, c in self.model.connectors.items():
            if c.in_session:
                self.stop_session(cid, reason)

    def on_call_result(self, unique_id: str, payload: Any) -> None:
        """A CALLRESULT arrived (called by the receive loop before the waiting call resumes)."""
        self.connection.on_call_result(unique_id, payload)

    # -- deferred work (after the answer to a CALL is sent) -------------------------------------

    def defer(self, action: Callable[[], object]) -> None:
        """Run `action` once the answer to the CALL being handled has been sent."""
        self._deferred.append(action)

    def run_deferred(self) -> None:
        actions, self._deferred = self._deferred, []
        for action in actions:
            action()

    def request_reset(self, kind: str) -> None:
        """Reset ("Soft" or "Hard") as soon as the answer to the Reset CALL has been sent."""
        self.connection.request_reset(kind)

    def trigger_boot(self) -> None:
        """TriggerMessage BootNotification."""
        self.connection.trigger_boot()

    def restart(self) -> None:
        """Power on after a reset: pending configuration applies, plugged-in EVs start again."""
        self.config.reboot()
        self.sync()
        for cid, c in self.model.connectors.items():
            c.finishing = False
            if c.ev is not None and c.ev.id_tag is not None and not c.in_session:
                self.start_session(cid, c.ev.id_tag, authorize=True)
        self.sync()
