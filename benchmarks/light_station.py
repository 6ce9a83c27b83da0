"""A light OCPP 1.6J station for load generators: a raw asyncio protocol, no websocket library.

Tens of thousands of `websockets` clients in one Python process cost more CPU than the server
under test; this one does only what an idle station does: the opening handshake, masked text
frames out (a zero mask key: allowed, and XOR with it is free), pongs to the server's pings,
answers to the server's CALLs (GetConfiguration with a small Alfen-like key set, Accepted
otherwise), and it notes whether the server closed the connection. Used by `scale.py` and
`reconnect_storm.py`; not a conformance test of anything.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time
from typing import Any

KEYS = [{"key": f"Key{i:02d}", "readonly": i % 3 == 0, "value": str(i * 7)} for i in range(30)] + [
    {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
    {"key": "HeartbeatInterval", "readonly": False, "value": "60"},
    {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"},
]
CALL_TIMEOUT_S = 120.0
BOOT = {"chargePointVendor": "Alfen BV", "chargePointModel": "NG920-61123"}


class LightStation(asyncio.Protocol):
    """One station's connection; `call()` sends a CALL and waits for its CALLRESULT."""

    def __init__(self, path: str, host: str) -> None:
        self.path, self.host = path, host
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed_by_server = False  # a close frame (or EOF) came before we closed
        self.answered_calls: dict[str, int] = {}
        self._buffer = b""
        self._handshaken = False
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._ids = 0
        self._closing = False

    # -- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._handshaken:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self._buffer = self._buffer[:end], self._buffer[end + 4 :]
            if not head.startswith(b"HTTP/1.1 101"):
                if not self.opened.done():
                    self.opened.set_exception(ConnectionError(head.split(b"\r\n")[0].decode()))
                assert self.transport is not None
                self.transport.close()
                return
            self._handshaken = True
            self.opened.set_result(None)
        self._frames()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._closing:
            self.closed_by_server = True
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("connection lost before the handshake"))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("connection lost"))
        if not self.lost.done():
            self.lost.set_result(None)

    # -- framing ----------------------------------------------------------------------------------
    def _frames(self) -> None:
        buf = self._buffer
        while len(buf) >= 2:
            opcode, length, offset = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    break
                (length,), offset = struct.unpack_from("!H", buf, 2), 4
            elif length == 127:
                if len(buf) < 10:
                    break
                (length,), offset = struct.unpack_from("!Q", buf, 2), 10
            if len(buf) < offset + length:
                break
            payload, buf = buf[offset : offset + length], buf[offset + length :]
            if opcode == 0x1:
                self._message(json.loads(payload))
            elif opcode == 0x9:
                self._send(0xA, payload)
            elif opcode == 0x8:
                self.closed_by_server = not self._closing
                self._send(0x8, payload[:2])
                assert self.transport is not None
                self.transport.close()
        self._buffer = buf

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        self.transport.write(head + b"\x00\x00\x00\x00" + payload)

    def send_json(self, message: list[Any]) -> None:
        self._send(0x1, json.dumps(message).encode())

    def _message(self, message: list[Any]) -> None:
        if message[0] == 2:
            action = message[2]
            self.answered_calls[action] = self.answered_calls.get(action, 0) + 1
            if action == "GetConfiguration":
                payload: dict[str, Any] = {"configurationKey": KEYS}
            elif action in ("TriggerMessage", "ChangeConfiguration", "ClearChargingProfile"):
                payload = {"status": "Accepted"}
            else:
                payload = {}
            self.send_json([3, message[1], payload])
        elif message[0] in (3, 4):
            future = self._pending.pop(message[1], None)
            if future is not None and not future.done():
                if message[0] == 3:
                    future.set_result(message[2])
                else:
                    future.set_exception(RuntimeError(f"CALLERROR {message[2]}: {message[3]}"))

    # -- use --------------------------------------------------------------------------------------
    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        """Send a CALL; its CALLRESULT payload (within two minutes: a loaded server is slow)."""
        self._ids += 1
        unique_id = str(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[unique_id] = future
        self.send_json([2, unique_id, action, payload])
        return await asyncio.wait_for(future, CALL_TIMEOUT_S)

    async def timed_call(self, action: str, payload: dict[str, Any]) -> float:
        began = time.perf_counter()
        await self.call(action, payload)
        return time.perf_counter() - began

    def close(self) -> None:
        self._closing = True
        if self.transport is not None and not self.transport.is_closing():
            self._send(0x8, struct.pack("!H", 1000))
            self.transport.close()


async def connect(host: str, port: int, station_id: str, source: str | None = None) -> LightStation:
    """Open the station's websocket (from source address `source`, if given)."""
    loop = asyncio.get_running_loop()
    _, protocol = await asyncio.wait_for(
        loop.create_connection(
            lambda: LightStation(f"/ocpp/{station_id}", f"{host}:{port}"),
            host,
            port,
            local_addr=(source, 0) if source else None,
        ),
        CALL_TIMEOUT_S,
    )
    await asyncio.wait_for(protocol.opened, CALL_TIMEOUT_S)
    return protocol


def raise_open_files_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE towards `wanted` (as far as the hard limit allows); the new limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if wanted <= soft:
        return soft
    try:  # root may raise the hard limit too (up to fs.nr_open)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(hard, wanted)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]
