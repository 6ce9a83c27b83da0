"""`csms serve` stops on SIGTERM whenever it comes: while loading, starting, or serving."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from csms.app import running_central_system
from tests.support.databases import make_settings

# Generous: two cores shared by several test runs. A hang shows up as hitting this bound.
EXIT_BOUND_S = 60


async def test_addresses_stay_readable_after_shutdown(tmp_path: Path) -> None:
    """`csms serve` prints the addresses once the system is ready; a SIGTERM in between used to
    make that read fail (the server socket already gone) and the shutdown hang."""
    async with running_central_system(make_settings(f"sqlite:///{tmp_path}/db.sqlite3")) as cs:
        ocpp_url, api_url = cs.ocpp_url, cs.api_url
    assert cs.ocpp_url == ocpp_url and cs.api_url == api_url


async def _serve_then_sigterm(tmp_path: Path, delay_s: float | None) -> tuple[int, str, str]:
    """Start `csms serve`, send SIGTERM after `delay_s` (None: right after it printed the API
    line), return (exit code, stdout, stderr); fails if it does not exit within the bound."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "csms.cli",
        "serve",
        "--database-url",
        f"sqlite:///{tmp_path}/csms.sqlite3",
        "--ocpp-host",
        "127.0.0.1",
        "--ocpp-port",
        "0",
        "--api-port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    try:
        if delay_s is None:
            line = await asyncio.wait_for(proc.stdout.readline(), EXIT_BOUND_S)
            assert b"Stations connect to" in line
        else:
            await asyncio.sleep(delay_s)
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), EXIT_BOUND_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_sigterm_at_any_moment_of_start_up_ends_the_process(tmp_path: Path) -> None:
    # How long start-up takes on this machine now, to spread the signals over it.
    began = time.monotonic()
    code, _, err = await _serve_then_sigterm(tmp_path / "first", None)
    start_up = time.monotonic() - began
    assert code == 0, err
    delays = [start_up * i / 10 for i in range(13)]
    for i, delay in enumerate(delays):
        code, out, err = await _serve_then_sigterm(tmp_path / f"run{i}", delay)
        assert "Traceback" not in err, (delay, err)
        if "Stations connect to" in out or "applying migration" in err:
            assert code == 0, (delay, err)  # it was running: an orderly shutdown
        else:
            # Still loading Python modules: the default action of SIGTERM ended it.
            assert code in (0, -signal.SIGTERM), (delay, code, err)
