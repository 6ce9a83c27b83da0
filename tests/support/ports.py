"""Ports for servers a test starts as separate processes (and restarts on the same port).

Binding port 0 and releasing it hands back a port from the kernel's ephemeral range, which every
outgoing connection on the machine draws from too: under load (or beside other test workers) a
client socket can take it before the server binds it ("address already in use"). These ports come
from below the ephemeral range instead, picked at random and checked free, so only another server
choosing the same number could collide.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_LOWEST = 10000


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def listen_port(host: str = "127.0.0.1") -> int:
    """A port of `host` outside the ephemeral range that is free now."""
    high = max(_ephemeral_low(), _LOWEST + 1000)
    for _ in range(500):
        port = random.randrange(_LOWEST, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {_LOWEST} and {high}")
