"""Starting and stopping a pymodbus TCP server, shared by the simulated meter and the simulated
station's Modbus slave (which differ only in the devices they serve and what they trace)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import SimDevice


async def listen(
    devices: Sequence[SimDevice],
    host: str,
    port: int,
    *,
    trace_connect: Callable[[bool], None] | None = None,
    trace_packet: Callable[[bool, bytes], bytes] | None = None,
) -> tuple[ModbusTcpServer, int]:
    """Serve `devices` on host:port (0 = ephemeral) in the background; returns the server and the
    port it listens on, or raises OSError naming the address when it cannot listen."""
    server = ModbusTcpServer(
        list(devices),
        address=(host, port),
        trace_packet=trace_packet,
        trace_connect=trace_connect,
    )
    try:
        await server.serve_forever(background=True)
    except RuntimeError as exc:  # pymodbus reports a failed bind this way
        raise OSError(f"cannot listen on {host}:{port} (port in use?)") from exc
    sockets = getattr(server.transport, "sockets", None)
    if not sockets:
        raise OSError(f"cannot listen on {host}:{port}")
    return server, int(sockets[0].getsockname()[1])


async def shut_down(server: ModbusTcpServer) -> None:
    """Stop listening and close every client connection."""
    await server.shutdown()  # type: ignore[no-untyped-call]
