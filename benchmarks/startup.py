"""Start-up: seconds from starting `csms serve` until it prints its URLs (its ports are open),
median of N runs, beside the same for another source tree (`--before DIR`, e.g. the branch point
unpacked with `git archive main | tar -x -C DIR`) and the naive reference server.

    .venv/bin/python benchmarks/startup.py [--runs 5] [--before DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def time_to_port(args: list[str], env: dict[str, str], marker: str) -> float:
    start = time.perf_counter()
    # `python -m` puts the working directory first on sys.path: run in the tree PYTHONPATH names,
    # or this checkout's csms would be imported for --before too.
    cwd = env.get("PYTHONPATH")
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=cwd
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if marker in line:
                return time.perf_counter() - start
        raise RuntimeError(f"{args[2:4]} ended without printing {marker!r}")
    finally:
        proc.kill()
        proc.wait()


def serve_args(folder: str) -> list[str]:
    return [
        sys.executable, "-m", "csms.cli", "serve",
        "--database-url", f"sqlite:///{folder}/s.sqlite3",
        "--ocpp-host", "127.0.0.1", "--ocpp-port", "0", "--api-port", "0",
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", help="another csms source tree to time beside this one")
    args = parser.parse_args()
    base = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cases: list[tuple[str, list[str] | None, dict[str, str], str]] = [
        ("csms serve (this tree)", None, base, "ws://"),
    ]
    if args.before:
        cases.append(("csms serve (--before)", None, {**base, "PYTHONPATH": args.before}, "ws://"))
    naive = [sys.executable, str(HERE / "reference_server.py")]
    cases.append(("naive reference server", naive, base, ""))
    times: dict[str, list[float]] = {name: [] for name, *_ in cases}
    for _ in range(args.runs):  # interleaved, so machine load hits every case alike
        for name, command, env, marker in cases:
            with tempfile.TemporaryDirectory() as folder:
                times[name].append(time_to_port(command or serve_args(folder), env, marker))
    print(f"time until the port is open, {args.runs} runs each (interleaved)")
    print(f"{'server':<28}{'median s':>10}{'min s':>8}{'max s':>8}")
    for name, values in times.items():
        print(f"{name:<28}{statistics.median(values):>10.2f}{min(values):>8.2f}{max(values):>8.2f}")


if __name__ == "__main__":
    main()
