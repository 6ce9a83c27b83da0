"""`csms serve` stops on SIGTERM whenever it comes: while loading, starting, or serving."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

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


async def _serve_then_sigterm(
    tmp_path: Path, delay_s: float = 0.0, marker: tuple[str, str] | None = None
) -> tuple[int, str, str]:
    """Start `csms serve`, send SIGTERM once `marker` = (stream, text) showed in its "out" or
    "err" (the stage of start-up it names has begun), else after `delay_s`; return (exit code,
    stdout, stderr); fails if a marker never shows or it does not exit within the bound."""
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
    assert proc.stdout is not None and proc.stderr is not None
    seen = {"out": b"", "err": b""}
    try:
        if marker is not None:
            stream, text = marker
            reader = proc.stdout if stream == "out" else proc.stderr
            async with asyncio.timeout(EXIT_BOUND_S):
                while text.encode() not in seen[stream]:
                    line = await reader.readline()
                    assert line, (marker, seen)  # it ended before reaching that stage
                    seen[stream] += line
        else:
            await asyncio.sleep(delay_s)
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), EXIT_BOUND_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, (seen["out"] + out).decode(), (seen["err"] + err).decode()


# Stages of start-up, each shown by a line: migrations begin, a later migration, the OCPP server
# listens (the API not yet), the system is ready.
STAGES = [
    ("err", "applying migration"),
    ("err", "applying migration sqlite/0200"),
    ("err", "server listening"),
    ("out", "Stations connect to"),
]


@pytest.mark.timeout(300)  # eight start-ups on a loaded machine; each has its own bound
async def test_sigterm_at_any_moment_of_start_up_ends_the_process(tmp_path: Path) -> None:
    # At each stage of start-up that prints a line: it was running, so an orderly shutdown.
    for i, marker in enumerate(STAGES):
        began = time.monotonic()
        code, out, err = await _serve_then_sigterm(tmp_path / f"stage{i}", marker=marker)
        assert "Traceback" not in err, (marker, err)
        assert code == 0, (marker, err)
        if i == 0:
            loading_s = time.monotonic() - began  # Python loading modules: nothing printed yet
    # Before the first line, spread over the time the modules take to load (as measured now).
    for i in range(4):
        delay = loading_s * i / 4
        code, out, err = await _serve_then_sigterm(tmp_path / f"loading{i}", delay)
        assert "Traceback" not in err, (delay, err)
        if "Stations connect to" in out or "applying migration" in err:
            assert code == 0, (delay, err)  # it was running: an orderly shutdown
        else:
            # Still loading Python modules: the default action of SIGTERM ended it.
            assert code in (0, -signal.SIGTERM), (delay, code, err)
