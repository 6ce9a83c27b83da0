"""Reading a grid meter over Modbus TCP (pymodbus' async client): one connection, one reading.

`ModbusMeter` owns exactly one client connection; the poller decides when to reconnect. Values are
read in as few requests as the map allows (contiguous registers only) and decoded one at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from pymodbus.exceptions import ConnectionException, ModbusException

from csms.meter.modbus_tcp import ModbusTcpConnection
from csms.meter.reading import MeterReading, make_reading
from csms.meter.registers import ReadRequest, RegisterMap, extract, plan_reads, signed_currents

# Modbus exception codes, worded for an installer.
_EXCEPTION_TEXT = {
    1: "illegal function (wrong function code for this meter?)",
    2: "illegal data address (wrong register map or model?)",
    3: "illegal data value",
    4: "device failure",
    6: "device busy",
    10: "gateway path unavailable",
    11: "no answer from the device behind the gateway (wrong unit id?)",
}


def quiet_pymodbus() -> None:
    """Keep pymodbus' own error logs (with multi-line frame dumps) out of our logs.

    The meter code reports every failure itself, once per state change, in one line; pymodbus
    would log each failed poll again, every second of an outage.
    """
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


class MeterReadError(Exception):
    """The meter answered, but not with usable data (e.g. a Modbus exception response)."""


class MeterUnreachable(MeterReadError):
    """No connection, a timeout or a dropped connection: the link must be re-established."""


class ModbusMeter(ModbusTcpConnection):
    """A Modbus TCP meter behind one connection. Use `async with`, or `connect()` / `close()`."""

    unreachable = MeterUnreachable

    def __init__(
        self,
        host: str,
        port: int,
        unit: int,
        register_map: RegisterMap,
        timeout_s: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(host, port, timeout_s)
        self.unit = unit
        self.register_map = register_map
        self.clock = clock
        self._plan = plan_reads(register_map.specs())
        self.source = f"modbus {register_map.name} unit {unit} at {host}:{port}"

    async def _request(self, request: ReadRequest) -> list[int]:
        read = (
            self._client.read_holding_registers
            if request.function_code == 3
            else self._client.read_input_registers
        )
        try:
            response = await read(request.address, count=request.count, device_id=self.unit)
        except ConnectionException as exc:
            raise MeterUnreachable(f"connection to {self.host}:{self.port} lost") from exc
        except ModbusException as exc:
            raise MeterUnreachable(
                f"no answer from {self.host}:{self.port} unit {self.unit} "
                f"within {self.timeout_s:g} s"
            ) from exc
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            text = _EXCEPTION_TEXT.get(code, f"exception code {code}")
            raise MeterReadError(
                f"unit {self.unit} refused FC{request.function_code} register "
                f"{request.address} (+{request.count}): {text}"
            )
        registers = list(response.registers)
        if len(registers) != request.count:
            raise MeterReadError(
                f"unit {self.unit} returned {len(registers)} registers for {request.count}"
            )
        return registers

    async def read(self) -> MeterReading:
        """Read every register of the map once and build a validated reading.

        Raises `MeterUnreachable` (reconnect), `MeterReadError` (answer unusable) or
        `InvalidReading` (a decoded value is NaN/Inf/out of range).
        """
        if not self.connected:
            raise MeterUnreachable(f"not connected to {self.host}:{self.port}")
        blocks: dict[ReadRequest, list[int]] = {}
        try:
            # A guard over the whole read in case a request hangs past pymodbus' own timeout.
            async with asyncio.timeout(self.timeout_s * (len(self._plan) + 1)):
                for request in self._plan:
                    blocks[request] = await self._request(request)
        except TimeoutError as exc:
            raise MeterUnreachable(f"{self.host}:{self.port} stopped answering") from exc
        m = self.register_map
        current = [extract(s, blocks, m.word_order) for s in m.current]
        power = None if m.power is None else [extract(s, blocks, m.word_order) for s in m.power]
        voltage = (
            None if m.voltage is None else [extract(s, blocks, m.word_order) for s in m.voltage]
        )
        return make_reading(
            at=self.clock(),
            current_a=signed_currents(m, current, power),
            power_w=power,
            voltage_v=voltage,
            source=self.source,
        )


async def read_once(
    host: str,
    port: int,
    unit: int,
    register_map: RegisterMap,
    timeout_s: float = 2.0,
    clock: Callable[[], float] = time.time,
) -> MeterReading:
    """Connect, take one reading, close (the "Test Smart Meter" button)."""
    async with ModbusMeter(host, port, unit, register_map, timeout_s, clock) as meter:
        return await meter.read()
