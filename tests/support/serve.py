"""Start `csms serve` as a real process (its own interpreter, signals, stdout), as an operator
would: for tests of crashes, restarts and shutdown."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path


async def start_serve(
    db: Path, *extra: str, stderr: int = asyncio.subprocess.PIPE
) -> asyncio.subprocess.Process:
    """`python -m csms.cli serve` on SQLite file `db`, OCPP and API on free ports of
    127.0.0.1, unbuffered stdout piped (its first line names the OCPP address)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "csms.cli",
        "serve",
        "--database-url",
        f"sqlite:///{db}",
        "--ocpp-host",
        "127.0.0.1",
        "--ocpp-port",
        "0",
        "--api-port",
        "0",
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
