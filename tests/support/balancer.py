"""A round-robin TCP balancer over local backends, as HAProxy does in front of a cluster: each
new connection goes to the next backend that is running and accepts it (tests/support/cluster.py
puts one in front of its nodes' OCPP ports)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Protocol


class Backend(Protocol):
    @property
    def running(self) -> bool: ...

    @property
    def ocpp_port(self) -> int: ...


class Balancer:
    """A round-robin TCP balancer over the running nodes' OCPP ports (what HAProxy does in
    production): each new connection goes to the next node that accepts it."""

    def __init__(self, nodes: Sequence[Backend]) -> None:
        self.nodes = nodes
        self.port = 0
        self._next = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._link(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect_backend(
        self,
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self.nodes)):
            node = self.nodes[self._next % len(self.nodes)]
            self._next += 1
            if not node.running:
                continue
            with contextlib.suppress(OSError):
                return await asyncio.open_connection("127.0.0.1", node.ocpp_port)
        return None

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        backend = await self._connect_backend()
        if backend is None:
            writer.transport.abort()
            return
        back_reader, back_writer = backend

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                # A node that died resets its side: reset the station's too (what it would see).
                dst.transport.abort()

        try:
            await asyncio.gather(pipe(reader, back_writer), pipe(back_reader, writer))
        finally:
            writer.transport.abort()
            back_writer.transport.abort()
