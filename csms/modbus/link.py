"""The shell around `control`: one Modbus connection per station, kept busy, writing what the
pure core decides and reading the sockets back.

`ModbusChannel.run()` connects (reconnecting with exponential backoff and jitter), reads the
station's socket count, then loops: write what `control.decide` says is due, read every socket
(the poll is also the keep-alive: the station closes a connection after 60 s without traffic),
prove the last write from 1206/1214 and the last phase switch from 1215 and the currents, report
the sockets' readings. `set_setpoints` hands it new
targets and wakes it. Nothing here decides a limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from csms.meter.backoff import Backoff
from csms.modbus.client import AlfenModbus, ModbusError, SocketReading
from csms.modbus.control import (
    ControlSettings,
    Setpoint,
    SocketState,
    Write,
    decide,
    phases_in_force,
    proven,
)

log = logging.getLogger(__name__)

METHOD = "modbus"

OnReading = Callable[[str, SocketReading], None]
OnProven = Callable[[str, str], None]
# (station id, connector id, {(measurand, phase): value}, at), as MeterValues give them.
OnSample = Callable[[str, int, Mapping[tuple[str, str | None], float], float], None]
# (station id, connector id, phases, at): a phase switch shown in force by a reading at `at`.
OnPhases = Callable[[str, int, int, float], None]


@dataclass(frozen=True, slots=True)
class ChannelView:
    """What the API shows of a station's Modbus link."""

    station_id: str
    where: str
    connected: bool
    error: str | None
    blocked: str | None
    writes: int
    readings: Mapping[int, SocketReading]
    states: Mapping[int, SocketState]


class ModbusChannel:
    """One station's Modbus slave: connection, writes, read-back."""

    def __init__(
        self,
        station_id: str,
        host: str,
        port: int = 502,
        *,
        settings: ControlSettings | None = None,
        clock: Callable[[], float] = time.time,
        poll_s: float = 1.0,
        on_reading: OnReading | None = None,
        on_proven: OnProven | None = None,
        on_phases: OnPhases | None = None,
        backoff: Backoff | None = None,
        timeout_s: float = 3.0,
    ) -> None:
        self.station_id = station_id
        self.settings = settings or ControlSettings()
        self.clock = clock
        self.poll_s = poll_s
        self.on_reading = on_reading
        self.on_proven = on_proven
        self.on_phases = on_phases
        self.backoff = backoff or Backoff(1.0, 30.0, random.Random())
        self.modbus = AlfenModbus(host, port, timeout_s=timeout_s, clock=clock)
        self.setpoints: dict[int, Setpoint] = {}
        self.surplus_a: float | None = None
        self.states: dict[int, SocketState] = {}
        self.readings: dict[int, SocketReading] = {}
        self.sockets = 1
        self.writes = 0
        self.phase_switches: list[tuple[float, int, int]] = []  # (at, socket, phases)
        self.connects = 0
        self.error: str | None = None
        # Why we may not write (prerequisites over OCPP); until a snapshot clears it we only read.
        self.blocked: str | None = "waiting for the station's configuration snapshot"
        self._proven_reported = False
        self._wake = asyncio.Event()

    def set_setpoints(
        self, setpoints: Mapping[int, Setpoint], surplus_a: float | None = None
    ) -> None:
        """New targets per socket (sockets left out get no writes: they fall back to the safe
        current when their validity runs out)."""
        changed = dict(setpoints) != self.setpoints
        self.setpoints = dict(setpoints)
        self.surplus_a = surplus_a
        if changed:
            self._wake.set()

    def block(self, reason: str | None) -> None:
        """Refuse (reason) or allow (None) writing: the prerequisites seen over OCPP."""
        if reason != self.blocked:
            if reason is None:
                log.info("station %s: Modbus control allowed", self.station_id)
            else:
                log.warning("station %s: %s", self.station_id, reason)
            self.blocked = reason
            self._wake.set()

    def view(self) -> ChannelView:
        return ChannelView(self.station_id, self.modbus.where, self.modbus.connected, self.error,
                           self.blocked, self.writes, dict(self.readings),
                           dict(self.states))  # fmt: skip

    async def run(self) -> None:
        """Connect, control and read until cancelled; a lost link is re-established."""
        try:
            while True:
                try:
                    await self.modbus.connect()
                    self.connects += 1
                    station = await self.modbus.read_station()
                    count = station.number("sockets")
                    self.sockets = int(count) if count in (1.0, 2.0) else 1
                    if self.error is not None:
                        log.info("station %s: Modbus slave at %s back", self.station_id,
                                 self.modbus.where)  # fmt: skip
                    self.error = None
                    self.backoff.reset()
                    await self._serve()
                except ModbusError as exc:
                    _raise_if_cancelling()
                    if str(exc) != self.error:
                        log.warning("station %s: Modbus: %s", self.station_id, exc)
                    self.error = str(exc)
                self.modbus.close()
                # Setpoints written before are still counting down on the station; rewrite them
                # after the reconnect as if they were due.
                for state in self.states.values():
                    state.written_at = float("-inf")
                await asyncio.sleep(self.backoff.next_delay())
        finally:
            self.modbus.close()

    async def _serve(self) -> None:
        while True:
            _raise_if_cancelling()
            self._wake.clear()
            # Phase switching only where the station shows the register (1215 not reserved).
            switches = any(r.values.number("phases") is not None for r in self.readings.values())
            surplus = self.surplus_a if switches else None
            setpoints = {} if self.blocked else self.setpoints
            for write in decide(setpoints, self.states, self.clock(), self.settings, surplus):
                await self._write(write)
            for socket in range(1, self.sockets + 1):
                reading = await self.modbus.read_socket(socket)
                self.readings[socket] = reading
                self._check(socket, reading)
                if self.on_reading is not None:
                    self.on_reading(self.station_id, reading)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await self._wake.wait()

    async def _write(self, write: Write) -> None:
        state = self.states.setdefault(write.socket, SocketState())
        now = self.clock()
        if write.kind == "current":
            await self.modbus.write_max_current(write.socket, write.value)
            if write.value != state.written_a:
                log.info("station %s socket %d: Modbus max current %.1f A (%s)",
                         self.station_id, write.socket, write.value, write.reason)  # fmt: skip
            state.written_a, state.written_at, state.proven = write.value, now, False
        else:
            await self.modbus.write_phases(write.socket, int(write.value))
            log.info("station %s socket %d: %d phases (%s)", self.station_id, write.socket,
                     int(write.value), write.reason)  # fmt: skip
            state.phases, state.phases_at, state.phases_proven = int(write.value), now, False
            self.phase_switches.append((now, write.socket, int(write.value)))
        self.writes += 1

    def _check(self, socket: int, reading: SocketReading) -> None:
        """Prove the last phase switch and the last setpoint from a reading taken after them."""
        state = self.states.get(socket)
        if state is None:
            return
        if not state.phases_proven and phases_in_force(
            state.phases, reading.values.number("phases"), reading.currents_a
        ):
            state.phases_proven = True
            log.info("station %s socket %d: %d phases in force", self.station_id, socket,
                     state.phases)  # fmt: skip
            if self.on_phases is not None:
                self.on_phases(self.station_id, socket, state.phases, reading.at)
        if state.written_a is None or state.proven:
            return
        if proven(reading.applied_a, reading.accounted, state.written_a):
            state.proven = True
            if not self._proven_reported:
                self._proven_reported = True
                if self.on_proven is not None:
                    self.on_proven(self.station_id, METHOD)


def _raise_if_cancelling() -> None:
    """pymodbus awaits its answers with `asyncio.wait_for`, which in Python 3.11 can turn our
    cancellation into a timeout; the task then stays "cancelling" without an error, and would
    poll on for ever. Honour the cancellation ourselves."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class ModbusStations:
    """Every Modbus-controlled station of a site; the charging loop's `LimitWriter`."""

    def __init__(self, channels: Mapping[str, ModbusChannel]) -> None:
        self.channels = dict(channels)
        self._on_sample: OnSample | None = None
        for channel in self.channels.values():
            channel.on_reading = self._reading

    def attach(
        self, on_sample: OnSample, on_proven: OnProven, on_phases: OnPhases | None = None
    ) -> None:
        """Where the sockets' measurements, the proven method and the phase switches in force
        go (the charging loop)."""
        self._on_sample = on_sample
        for channel in self.channels.values():
            channel.on_proven = on_proven
            channel.on_phases = on_phases

    def _reading(self, station_id: str, reading: SocketReading) -> None:
        if self._on_sample is None:
            return
        values: dict[tuple[str, str | None], float] = {}
        currents = reading.currents_a
        if all(c is not None for c in currents):
            for n, amps in enumerate(currents, start=1):
                values[("Current.Import", f"L{n}")] = float(amps or 0.0)
        power = reading.values.number("power_w")
        if power is not None:
            values[("Power.Active.Import", None)] = power
        if reading.applied_a is not None:
            values[("Current.Offered", None)] = reading.applied_a
        if values:
            self._on_sample(station_id, reading.socket, values, reading.at)

    def controls(self, station_id: str) -> bool:
        """Configured for Modbus and not refused: its limits go through its slave now."""
        channel = self.channels.get(station_id)
        return channel is not None and channel.blocked is None

    def write(
        self,
        station_id: str,
        setpoints: Mapping[int, tuple[float, str, bool]],
        surplus_a: float | None = None,
    ) -> None:
        """Hand one station's per-socket limits (amps, binding source, urgent) to its channel."""
        channel = self.channels[station_id]
        channel.set_setpoints(
            {
                c: Setpoint(c, amps, source, urgent)
                for c, (amps, source, urgent) in setpoints.items()
            },
            surplus_a,
        )

    def station_view(self, station_id: str) -> dict[str, Any] | None:
        """The link of a station for the API: where, connected, refusal, last error, writes."""
        channel = self.channels.get(station_id)
        if channel is None:
            return None
        return {
            "control": METHOD,
            "where": channel.modbus.where,
            "connected": channel.modbus.connected,
            "refused": channel.blocked,
            "error": channel.error,
            "writes": channel.writes,
            "connects": channel.connects,
        }

    def socket_view(self, station_id: str, connector_id: int) -> dict[str, Any] | None:
        """A socket's last Modbus reading and what we wrote, for the site view."""
        channel = self.channels.get(station_id)
        if channel is None:
            return None
        reading = channel.readings.get(connector_id)
        state = channel.states.get(connector_id)
        values = {} if reading is None else dict(reading.values.values)
        return {
            "read_at": None if reading is None else reading.at,
            "mode3": values.get("mode3_state"),
            "current_a": None if reading is None else list(reading.currents_a),
            "power_w": values.get("power_w"),
            "applied_a": values.get("applied_max_current_a"),
            "setpoint_a": values.get("modbus_max_current_a"),
            "accounted": None if reading is None else reading.accounted,
            "validity_left_s": values.get("validity_left_s"),
            "safe_current_a": values.get("safe_current_a"),
            "phases": values.get("phases"),
            "written_a": None if state is None else state.written_a,
            "written_at": None if state is None else state.written_at,
            "proven": None if state is None else state.proven,
            "rejected": [] if reading is None else list(reading.values.rejected),
        }

    def block(self, station_id: str, reason: str | None) -> None:
        """Refuse (reason) or allow (None) Modbus control of a station (not ours: ignored)."""
        channel = self.channels.get(station_id)
        if channel is not None:
            channel.block(reason)

    def applied_a(self, station_id: str, connector_id: int) -> float | None:
        """What we wrote and the station has not yet let run out (None: nothing in force)."""
        channel = self.channels[station_id]
        if channel.blocked:
            return None
        state = channel.states.get(connector_id)
        if state is None or state.written_a is None:
            return None
        return state.written_a

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for station_id, channel in self.channels.items():
                group.create_task(channel.run(), name=f"modbus-{station_id}")
