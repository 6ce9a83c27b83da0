"""The Alfen Modbus slave over pymodbus' async TCP client: one connection, typed reads, writes.

`AlfenModbus` owns exactly one connection (older firmware serves one master only); the link
(`csms.modbus.link`) decides when to reconnect and keeps it busy. Reads go in as few requests as
the map allows (`registers.plan_reads`); a multi-register value is written in one FC16 request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pymodbus.exceptions import ConnectionException, ModbusException

from csms.meter.modbus_tcp import ModbusTcpConnection
from csms.modbus.registers import (
    MAX_CURRENT_REGISTER,
    PHASES_REGISTER,
    SCN_BLOCKS,
    SCN_FIELDS,
    SOCKET_BLOCKS,
    SOCKET_FIELDS,
    STATION_BLOCKS,
    STATION_FIELDS,
    STATION_UNIT,
    Block,
    Decoded,
    decode_blocks,
    float32_registers,
)

_EXCEPTION_TEXT = {
    1: "illegal function",
    2: "illegal data address (Modbus slave not enabled, or no such socket?)",
    3: "illegal data value",
    4: "device failure",
    6: "device busy",
}


class ModbusError(Exception):
    """The station answered, but not with what we asked for (an exception response)."""


class ModbusUnreachable(ModbusError):
    """No connection, a timeout or a dropped connection: the link must be re-established."""


@dataclass(frozen=True, slots=True)
class SocketReading:
    """One socket's values at `at` (None: reserved or not a finite number)."""

    socket: int
    at: float
    values: Decoded

    @property
    def currents_a(self) -> tuple[float | None, float | None, float | None]:
        v = self.values
        return (v.number("current_l1_a"), v.number("current_l2_a"), v.number("current_l3_a"))

    @property
    def mode3(self) -> str | None:
        return self.values.text("mode3_state")

    @property
    def applied_a(self) -> float | None:
        return self.values.number("applied_max_current_a")

    @property
    def accounted(self) -> bool:
        return self.values.number("setpoint_accounted") == 1.0


class AlfenModbus(ModbusTcpConnection):
    """One Modbus TCP connection to an Alfen station. Use `async with`, or connect()/close()."""

    unreachable = ModbusUnreachable
    peer = "the Modbus slave at "

    def __init__(
        self,
        host: str,
        port: int = 502,
        timeout_s: float = 3.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(host, port, timeout_s)
        self.clock = clock
        self._lock = asyncio.Lock()  # one request at a time on the one connection

    async def _guarded(self, what: str, unit: int, request: Callable[[], Awaitable[Any]]) -> Any:
        if not self.connected:
            raise ModbusUnreachable(f"not connected to {self.where}")
        try:
            async with self._lock, asyncio.timeout(self.timeout_s * 2):
                response = await request()
        except ConnectionException as exc:
            raise ModbusUnreachable(f"connection to {self.where} lost") from exc
        except (ModbusException, TimeoutError) as exc:
            raise ModbusUnreachable(
                f"no answer from {self.where} unit {unit} within {self.timeout_s:g} s"
            ) from exc
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            text = _EXCEPTION_TEXT.get(code, f"exception code {code}")
            raise ModbusError(f"unit {unit} refused {what}: {text}")
        return response

    async def read_block(self, unit: int, block: Block) -> list[int]:
        """Read one block of holding registers (FC3)."""
        response = await self._guarded(
            f"reading {block.address} (+{block.count})",
            unit,
            lambda: self._client.read_holding_registers(
                block.address, count=block.count, device_id=unit
            ),
        )
        registers = list(response.registers)
        if len(registers) != block.count:
            raise ModbusError(f"unit {unit} returned {len(registers)} registers for {block.count}")
        return registers

    async def _read(self, unit: int, blocks: Sequence[Block]) -> dict[Block, list[int]]:
        return {block: await self.read_block(unit, block) for block in blocks}

    async def read_station(self, scn: bool = False) -> Decoded:
        """Unit 200: identity and state (and the SCN block when asked)."""
        fields = STATION_FIELDS + (SCN_FIELDS if scn else ())
        blocks = STATION_BLOCKS + (SCN_BLOCKS if scn else ())
        return decode_blocks(fields, await self._read(STATION_UNIT, blocks))

    async def read_socket(self, socket: int) -> SocketReading:
        """Unit 1 or 2: measurements, Mode 3 state and the limits in force."""
        blocks = await self._read(socket, SOCKET_BLOCKS)
        return SocketReading(socket, self.clock(), decode_blocks(SOCKET_FIELDS, blocks))

    async def write_max_current(self, socket: int, amps: float) -> None:
        """Write 1210 (float32, A) in one multi-register request; restarts the validity timer."""
        await self._guarded(
            f"writing {MAX_CURRENT_REGISTER}",
            socket,
            lambda: self._client.write_registers(
                MAX_CURRENT_REGISTER, float32_registers(amps), device_id=socket
            ),
        )

    async def write_phases(self, socket: int, phases: int) -> None:
        """Write 1215: charge on 1 or 3 phases."""
        if phases not in (1, 3):
            raise ValueError("phases must be 1 or 3")
        await self._guarded(
            f"writing {PHASES_REGISTER}",
            socket,
            lambda: self._client.write_register(PHASES_REGISTER, phases, device_id=socket),
        )
