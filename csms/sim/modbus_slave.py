"""The simulated station's Modbus TCP slave: a real pymodbus server serving Alfen's register map.

Unit 200 is the station, units 1 and 2 its sockets (`csms.modbus.registers` is the map; the
simulator uses its encoding only, never server code). Reads are answered from the station's model
at the moment of the request; reserved registers read 0xFFFF. Writes of 1210 (float32, one FC16
request), 1215 (phases) and the SCN max currents go to the station's `EmsState`
(`csms.sim.ems`), which applies them with the validity timer.

Like older firmware it serves one master at a time: a second connection closes the first
(`second_master="drop-old"`, what the seed's author saw) or is closed at once (`"refuse-new"`).
A connection without traffic for `idle_close_s` is closed, as the station does after 60 s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Literal

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from csms.modbus.registers import (
    SCN_FIELDS,
    SOCKET_FIELDS,
    STATION_FIELDS,
    STATION_UNIT,
    Field,
    decode,
    encode,
)
from csms.sim.ems import EmsState
from csms.sim.modbus_server import listen, shut_down
from csms.sim.model import VOLTAGE_V, Connector
from csms.sim.site import SimSite
from csms.sim.station import SimStation
from csms.sim.tasks import cancel_all

log = logging.getLogger(__name__)

SecondMaster = Literal["drop-old", "refuse-new"]
REGISTERS = 1500  # addresses 0..1499 of every unit
_WRITABLE = {1210, 1211, 1215}
_SCN_WRITABLE = set(range(1417, 1423))


def mode3_state(c: Connector) -> str:
    """The socket's IEC 61851 (Mode 3) state as the station reports it."""
    if c.status == "Faulted":
        return "F"
    if c.ev is None:
        return "A"
    if not c.in_session:
        return "B1"
    if c.current_a > 0:
        return "C2"
    return "B2" if c.offered_a > 0 else "C1"


class ModbusSlave:
    """A Modbus TCP slave for one `SimStation`; `start()` / `stop()`."""

    def __init__(
        self,
        station: SimStation,
        *,
        second_master: SecondMaster = "drop-old",
        idle_close_s: float = 60.0,
        temperature_c: float = 31.5,
    ) -> None:
        self.station = station
        self.ems = EmsState(station.config, boots=lambda: station.boots)
        station.model.ems = self.ems
        self.second_master = second_master
        self.idle_close_s = idle_close_s
        self.temperature_c = temperature_c
        self.host = "127.0.0.1"
        self.port = 0
        self.requests = 0
        self.writes: list[tuple[int, int, list[int]]] = []  # (unit, address, values)
        self.dropped = 0  # connections closed for a second master or idleness
        self.scn_max_a: list[float] = [32.0, 32.0, 32.0]
        self.scn_written_at = 0.0
        self._started = time.monotonic()
        self._last_traffic = time.monotonic()
        self._server: ModbusTcpServer | None = None
        self._idle_task: asyncio.Task[None] | None = None

    # -- values ---------------------------------------------------------------------------------

    def _now(self) -> float:
        return self.station.clock.now()

    def station_values(self) -> dict[str, float | str]:
        st, cfg = self.station, self.station.config
        now = self._now()
        grid = st.grid_currents()
        scn_on = cfg.value("MbsSlaveTCPIPMode") == "SCN"
        left = max(0.0, self.scn_written_at + self.ems.validity_s - now) if scn_on else 0.0
        values: dict[str, float | str] = {
            "name": st.station_id,
            "manufacturer": "Alfen",
            "firmware": st.firmware,
            "platform": "NG9xx",
            "serial": st.serial,
            "uptime_s": time.monotonic() - self._started,
            "active_max_current_a": cfg.number("Station-MaxCurrent"),
            "temperature_c": self.temperature_c,
            "ocpp_state": 1.0 if st.connected else 0.0,
            "sockets": float(st.sockets),
            "scn_name": "SCN1" if scn_on else "",
            "scn_sockets": float(st.sockets),
            "scn_safe_current_a": self.ems.safe_a,
            "scn_modbus_max_enabled": 1.0 if scn_on else 0.0,
        }
        for i, phase in enumerate(("l1", "l2", "l3")):
            values[f"scn_consumption_{phase}_a"] = grid[i]
            station_max = cfg.number("Station-MaxCurrent")
            values[f"scn_actual_max_{phase}_a"] = min(self.scn_max_a[i], station_max)
            values[f"scn_max_{phase}_a"] = self.scn_max_a[i]
            values[f"scn_fallback_{phase}_s"] = left
        return values

    def socket_values(self, connector_id: int) -> dict[str, float | str]:
        st, now = self.station, self._now()
        st.sync()
        c = st.connector(connector_id)
        ems = self.ems
        limit = ems.limit(connector_id, now)
        applied = c.offered_a if c.in_session else st.model.local_limit(connector_id)
        if not c.in_session and limit is not None:
            applied = min(applied, limit)
        values: dict[str, float | str] = {
            "meter_state": 2.0,  # updated
            "power_w": sum(c.grid_a) * VOLTAGE_V,
            "energy_wh": c.meter_wh,
            "availability": 0.0 if c.inoperative else 1.0,
            "mode3_state": mode3_state(c),
            "applied_max_current_a": applied,
            "validity_left_s": ems.seconds_left(connector_id, now),
            "modbus_max_current_a": ems.setpoint(connector_id) or 0.0,
            "safe_current_a": ems.safe_a,
            "setpoint_accounted": 1.0 if ems.accounted(connector_id, now) else 0.0,
            "phases": float(ems.phases(connector_id) or 3),
        }
        for i, phase in enumerate(("l1", "l2", "l3")):
            values[f"voltage_{phase}_v"] = VOLTAGE_V
            values[f"current_{phase}_a"] = c.grid_a[i]
            values[f"power_{phase}_w"] = c.grid_a[i] * VOLTAGE_V
        return values

    def image(self, unit: int) -> dict[int, int]:
        """address → register value of a unit right now (addresses not in it read 0xFFFF)."""
        fields: tuple[Field, ...]
        if unit == STATION_UNIT:
            fields, values = STATION_FIELDS + SCN_FIELDS, self.station_values()
        else:
            fields, values = SOCKET_FIELDS, self.socket_values(unit)
        out: dict[int, int] = {}
        for field in fields:
            if field.name in values:
                for i, register in enumerate(encode(field, values[field.name])):
                    out[field.address + i] = register
        return out

    # -- requests -------------------------------------------------------------------------------

    def _device(self, unit: int) -> SimDevice:
        async def action(
            function_code: int,
            start_address: int,
            address: int,
            count: int,
            registers: list[int],
            set_values: list[int] | list[bool] | None,
        ) -> ExcCodes | None:
            return self._on_request(unit, function_code, start_address, address, count,
                                    registers, set_values)  # fmt: skip

        holding = [SimData(0, count=REGISTERS, datatype=DataType.REGISTERS)]
        bits = [SimData(0, datatype=DataType.BITS, readonly=True)]
        invalid = [SimData(0, datatype=DataType.INVALID)]
        return SimDevice(id=unit, simdata=(list(bits), list(bits), holding, invalid), action=action)

    def _on_request(
        self,
        unit: int,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        self.requests += 1
        self._last_traffic = time.monotonic()
        if unit not in (STATION_UNIT, *range(1, self.station.sockets + 1)):
            return ExcCodes.ILLEGAL_ADDRESS
        if set_values is not None:
            values = [int(v) for v in set_values]
            return self._on_write(unit, address, values)
        image = self.image(unit)
        for a in range(address, address + count):
            registers[a - start_address] = image.get(a, 0xFFFF)
        return None

    def _on_write(self, unit: int, address: int, values: list[int]) -> ExcCodes | None:
        span = set(range(address, address + len(values)))
        now = self._now()
        self.writes.append((unit, address, values))
        if not self.ems.enabled():
            return ExcCodes.ILLEGAL_ADDRESS  # "allow writing max currents" is off
        if unit == STATION_UNIT:
            if not span <= _SCN_WRITABLE or (address - 1417) % 2 or len(values) % 2:
                return ExcCodes.ILLEGAL_ADDRESS
            field = SCN_FIELDS[8]  # any f32 field decodes the pairs
            for k in range(0, len(values), 2):
                self.scn_max_a[(address - 1417 + k) // 2] = _f32(field, values[k : k + 2])
            self.scn_written_at = now
            return None
        if span == {1210, 1211}:
            amps = _f32(SOCKET_FIELDS[16], values)
            if amps != amps or amps < 0:  # NaN or negative
                return ExcCodes.ILLEGAL_VALUE
            self.ems.write_setpoint(unit, amps, now)
        elif span == {1215}:
            if values[0] not in (1, 3):
                return ExcCodes.ILLEGAL_VALUE
            self.ems.write_phases(unit, values[0])
        else:
            # Half of a float, or a read-only register.
            return ExcCodes.ILLEGAL_ADDRESS
        self.station.sync()
        return None

    # -- connections ----------------------------------------------------------------------------

    def _connections(self) -> list[object]:
        if self._server is None:
            return []
        return list(self._server.active_connections.values())

    @property
    def connections(self) -> int:
        return len(self._connections())

    def _trace_connect(self, connected: bool) -> None:
        if connected:
            self._last_traffic = time.monotonic()
            asyncio.get_running_loop().call_soon(self._one_master)

    def _one_master(self) -> None:
        open_ = self._connections()
        if len(open_) <= 1:
            return
        victims = open_[:-1] if self.second_master == "drop-old" else open_[1:]
        for protocol in victims:
            self.dropped += 1
            protocol.close()  # type: ignore[attr-defined]

    async def _close_idle(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.idle_close_s / 4))
            if time.monotonic() - self._last_traffic >= self.idle_close_s:
                for protocol in self._connections():
                    self.dropped += 1
                    protocol.close()  # type: ignore[attr-defined]

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on host:port (0 = ephemeral); returns the port."""
        self.host = host
        devices = [self._device(STATION_UNIT)] + [
            self._device(u) for u in range(1, self.station.sockets + 1)
        ]
        server, self.port = await listen(devices, host, port, trace_connect=self._trace_connect)
        self._server = server
        self._idle_task = asyncio.create_task(self._close_idle(), name=f"mbs-idle-{self.port}")
        return self.port

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        if self._idle_task is not None:
            await cancel_all([self._idle_task])
            self._idle_task = None
        if self._server is not None:
            server, self._server = self._server, None
            await shut_down(server)


def _f32(field: Field, values: list[int]) -> float:
    value = decode(field, values)
    return float("nan") if value is None else float(value)


# The configuration that lets a station take limits from its Modbus slave (with the ALB licence).
EMS_CONFIG = {"Active-LoadBalancing": "On", "MbsSlaveTCPIP": "On", "MbsSlaveTCPIPMode": "Socket"}


async def start_slaves(
    site: SimSite, host: str = "127.0.0.1", port_base: int | None = None
) -> list[ModbusSlave]:
    """A Modbus slave for each of the site's stations on port_base, port_base+1, … (none when
    `port_base` is None); a port in use stops the others again and raises OSError."""
    slaves: list[ModbusSlave] = []
    if port_base is None:
        return slaves
    try:
        for index, station in enumerate(site.stations):
            slave = ModbusSlave(station)
            await slave.start(host, port_base + index)
            slaves.append(slave)
    except OSError:
        for slave in slaves:
            await slave.stop()
        raise
    return slaves
