"""Paced opening handshakes: at most N are worked on at a time, and a queued one cannot time out.

After a restart every station reconnects at once. websockets starts each connection's open
timeout (10 s) when the socket is accepted, and uvloop accepts the whole listen backlog in one go:
thousands of handshakes then share the loop and the store's reader, and the last ones ran past
their timeout and were dropped although nothing was wrong with them. Here the open timeout is
split: the request must arrive within `open_timeout_s` of the accept (cheap: a station sends it
at once), then the connection waits its turn among at most `limit` handshakes in progress (FIFO),
and only the work itself (our checks, the store lookup, the 101 response) runs under a second
`open_timeout_s`. A station that gave up while queued costs nothing more.
"""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.asyncio.server import ServerConnection


def paced_connections(limit: int, open_timeout_s: float) -> type[ServerConnection]:
    """A `ServerConnection` class (for `serve(create_connection=..., open_timeout=None)`) whose
    handshakes share one gate of `limit` places."""
    gate = asyncio.Semaphore(limit)

    class PacedConnection(ServerConnection):
        async def handshake(self, *args: Any, **kwargs: Any) -> None:
            async with asyncio.timeout(open_timeout_s):
                await asyncio.wait(
                    (self.request_rcvd, self.connection_lost_waiter),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            async with gate:
                if self.connection_lost_waiter.done():
                    return  # it went away while queued: nothing to answer
                async with asyncio.timeout(open_timeout_s):
                    await super().handshake(*args, **kwargs)
            # Neither the request's headers nor the response (~3 KB) are needed once the session
            # runs. The request itself stays: websockets tells it from later frames by
            # `request is None`, and its frame parser (a generator) still refers to it.
            if self.request is not None:
                self.request.headers.clear()
            self.response = None

    return PacedConnection
