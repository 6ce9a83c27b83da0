"""A simulated grid meter: a real pymodbus TCP server serving a preset's (or custom) register map.

Per-phase current = household load − PV production (+ the EVs' currents when the site's meter
includes them, from the `ev_currents` callable). Values are computed when a request arrives, from
the injected clock and the script; power is voltage × signed current (power factor 1), and the
registers hold what a real meter would: a magnitude where the map takes the sign from power.

Usable as a library (`csms demo`, tests) and from `csms sim meter`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimAction, SimData, SimDevice

from csms.meter.registers import PRESETS, RegisterMap, RegisterSpec, encode_value
from csms.sim.meter_script import LoadScript, OutageMode, ScriptStep, Triple, triple
from csms.sim.modbus_server import listen, shut_down
from csms.sim.tasks import cancel_all

log = logging.getLogger(__name__)

EvCurrents = Callable[[], tuple[float, float, float]]


@dataclass(frozen=True)
class MeterValues:
    """What the simulated meter reports right now (signed current: + import, − export)."""

    current_a: Triple
    power_w: Triple
    voltage_v: Triple


class MeterSimulator:
    """A Modbus TCP grid meter with a scriptable household/PV load and outages."""

    def __init__(
        self,
        model: str | RegisterMap = "socomec-e27",
        unit: int | None = None,
        load: LoadScript | None = None,
        ev_currents: EvCurrents | None = None,
        clock: Callable[[], float] = time.time,
        voltage_v: float = 230.0,
    ) -> None:
        if isinstance(model, str):
            if model not in PRESETS:
                raise ValueError(f"unknown meter model {model!r}; known: {', '.join(PRESETS)}")
            model = PRESETS[model]
        self.register_map = model
        self.unit = model.default_unit if unit is None else unit
        if not 0 <= self.unit <= 255:
            raise ValueError(f"unit {self.unit} is not a Modbus unit id (0-255)")
        self.load = load or LoadScript()
        self.ev_currents = ev_currents
        self.clock = clock
        self.voltage_v = voltage_v
        self.host = "127.0.0.1"
        self.port = 0
        self.requests = 0
        self.connections = 0  # open client connections right now
        self.total_connections = 0
        self._outage: OutageMode | None = None
        self._server: ModbusTcpServer | None = None
        self._started_at: float | None = None
        self._script_task: asyncio.Task[None] | None = None

    # -- values ---------------------------------------------------------------------------------

    def elapsed(self) -> float:
        """Seconds since `start()` by the injected clock (0 before it)."""
        return 0.0 if self._started_at is None else self.clock() - self._started_at

    def values(self) -> MeterValues:
        """The per-phase values the meter reports at this moment."""
        t = self.elapsed()
        household, pv = self.load.household_at(t), self.load.pv_at(t)
        ev = self.ev_currents() if self.ev_currents is not None else (0.0, 0.0, 0.0)
        current = triple([h - p + e for h, p, e in zip(household, pv, ev, strict=True)])
        voltage = (self.voltage_v, self.voltage_v, self.voltage_v)
        power = triple([v * i for v, i in zip(voltage, current, strict=True)])
        return MeterValues(current, power, voltage)

    def set_household(self, amps: float | Sequence[float]) -> None:
        """Change the household load from now on (one number for all phases, or three)."""
        self.load.add(ScriptStep(self.elapsed(), household_a=triple(amps)))

    def set_pv(self, amps: float | Sequence[float]) -> None:
        """Change the PV production from now on (positive amps; they count as export)."""
        self.load.add(ScriptStep(self.elapsed(), pv_a=triple(amps)))

    def _register_image(self) -> dict[int, dict[int, int]]:
        """function code → address → register value, for the current values."""
        m, now = self.register_map, self.values()
        image: dict[int, dict[int, int]] = {3: {}, 4: {}}

        def put(specs: Sequence[RegisterSpec] | None, values: Triple, magnitude: bool) -> None:
            for spec, value in zip(specs or (), values, strict=False):
                raw = abs(value) if magnitude or not spec.signed else value
                for i, register in enumerate(encode_value(spec, raw, m.word_order)):
                    image[spec.function_code][spec.address + i] = register

        put(m.current, now.current_a, magnitude=m.power is not None)
        put(m.power, now.power_w, magnitude=False)
        put(m.voltage, now.voltage_v, magnitude=False)
        return image

    # -- the Modbus server ----------------------------------------------------------------------

    def _device(self, unit: int, action: SimAction) -> SimDevice:
        blocks: dict[int, list[SimData]] = {3: [], 4: []}
        for spec in self.register_map.specs():
            blocks[spec.function_code].append(
                SimData(spec.address, count=spec.count, datatype=DataType.REGISTERS, readonly=True)
            )
        for fc in (3, 4):  # a real meter answers the other function code with ILLEGAL ADDRESS
            blocks[fc] = blocks[fc] or [SimData(0, datatype=DataType.INVALID)]
        bits = [SimData(0, datatype=DataType.BITS, readonly=True)]
        return SimDevice(
            id=unit, simdata=(list(bits), list(bits), blocks[3], blocks[4]), action=action
        )

    def _devices(self) -> list[SimDevice]:
        devices = [self._device(self.unit, self._action)]
        if self.unit != 0:
            # Any other unit id: answer like a gateway whose addressed device is silent.
            devices.append(self._device(0, self._wrong_unit))
        return devices

    async def _wrong_unit(self, *_args: object) -> ExcCodes:
        self.requests += 1
        return ExcCodes.GATEWAY_NO_RESPONSE

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        self.requests += 1
        if set_values is not None:
            return ExcCodes.ILLEGAL_FUNCTION
        if self._outage == "error":
            return ExcCodes.GATEWAY_NO_RESPONSE
        for reg_address, value in self._register_image().get(function_code, {}).items():
            offset = reg_address - start_address
            if 0 <= offset < len(registers):
                registers[offset] = value
        return None

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        # "silent" drops every answer: the client sees a live TCP connection that never replies.
        return b"" if sending and self._outage == "silent" else data

    def _trace_connect(self, connected: bool) -> None:
        self.connections += 1 if connected else -1
        self.total_connections += 1 if connected else 0

    async def _listen(self) -> None:
        self._server, self.port = await listen(
            self._devices(),
            self.host,
            self.port,
            trace_packet=self._trace_packet,
            trace_connect=self._trace_connect,
        )

    async def _close(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await shut_down(server)
            self.connections = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on host:port (0 = ephemeral) and start the script's timer; returns the port."""
        self.host, self.port = host, port
        self._started_at = self.clock()
        self._outage = None
        await self._listen()
        self._script_task = asyncio.create_task(self._follow_script(), name="meter-sim-script")
        await self._apply_script()
        return self.port

    async def stop(self) -> None:
        """Stop the timer and the server (closes every client connection)."""
        if self._script_task is not None:
            await cancel_all([self._script_task])
            self._script_task = None
        await self._close()

    async def outage(self, mode: OutageMode = "stop") -> None:
        """Start an outage: `stop` closes the server, `silent` never answers, `error` refuses."""
        log.info("simulated meter on port %s: outage (%s)", self.port, mode)
        self._outage = mode
        if mode == "stop":
            await self._close()

    async def restore(self) -> None:
        """End an outage; a stopped server listens again on the same port."""
        log.info("simulated meter on port %s: restored", self.port)
        self._outage = None
        if self._server is None and self._started_at is not None:
            await self._listen()

    @property
    def outage_mode(self) -> OutageMode | None:
        """The outage in force, if any."""
        return self._outage

    async def _apply_script(self) -> None:
        wanted = self.load.outage_at(self.elapsed())
        if wanted != self._outage:
            if self._outage is not None:
                await self.restore()
            if wanted is not None:
                await self.outage(wanted)

    async def _follow_script(self) -> None:
        # Scripted outages need a timer (stopping a server cannot wait for a request).
        for at in self.load.outage_times():
            delay = at - self.elapsed()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._apply_script()
