"""`csms serve` raises its soft open-files limit to the hard limit: each station holds a socket,
and a soft limit of 1,024 would refuse the thousandth station (`raise_open_files_limit`)."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from pathlib import Path


def _soft_limit_of(pid: int) -> int:
    limits = Path(f"/proc/{pid}/limits").read_text()
    match = re.search(r"^Max open files\s+(\d+)\s+(\S+)", limits, re.MULTILINE)
    assert match is not None, limits
    return int(match.group(1))


def test_serve_runs_with_the_hard_open_files_limit(tmp_path: Path) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = 256 if hard == resource.RLIM_INFINITY else min(256, hard)

    def start_low() -> None:  # as a service manager with a soft limit of 256 would start it
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))

    proc = subprocess.Popen(
        [sys.executable, "-m", "csms.cli", "serve", "--ocpp-port", "0", "--api-port", "0",
         "--database-url", f"sqlite:///{tmp_path}/c.sqlite3"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=start_low,
        env={**os.environ, "CSMS_CONFIG": ""},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Stations connect to: ")
        wanted = 1_048_576 if hard == resource.RLIM_INFINITY else hard
        assert _soft_limit_of(proc.pid) == wanted > low
    finally:
        proc.terminate()
        proc.wait(30)
