"""One Modbus TCP connection over pymodbus' async client, shared by the grid meter
(`csms.meter.modbus`) and the station's Modbus slave client (`csms.modbus.client`).

The owner of a connection decides when to reconnect (with jitter), so the client never retries or
reconnects by itself, and a late answer never pairs with the next request.
"""

from __future__ import annotations

from types import TracebackType
from typing import ClassVar, Self

from pymodbus.client import AsyncModbusTcpClient


class ModbusTcpConnection:
    """Connect, close, `async with`; subclasses read and write through `self._client`."""

    unreachable: ClassVar[type[Exception]] = ConnectionError
    """What `connect()` raises when the peer cannot be reached."""
    peer: ClassVar[str] = ""
    """How the connect error names the peer before its address, e.g. "the Modbus slave at "."""

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._client = AsyncModbusTcpClient(
            host, port=port, timeout=timeout_s, retries=0, reconnect_delay=0
        )

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    async def connect(self) -> None:
        """Open the connection; raises `unreachable`."""
        if not await self._client.connect():
            self._client.close()
            # pymodbus does not say why (refused, unreachable, unknown host or timed out).
            raise self.unreachable(
                f"cannot connect to {self.peer}{self.where} "
                f"(refused, unreachable or no answer within {self.timeout_s:g} s)"
            )

    @property
    def connected(self) -> bool:
        """True while the TCP connection is open."""
        return bool(self._client.connected)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._client.close()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
