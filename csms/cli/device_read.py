"""What `csms meter read` and `csms modbus read` share: the installer's "test this device once"
command (`--host`, `--port`, `--json`, `--timeout`), its one-line error and its output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from csms.cli import command_group


def add_read_command(
    subparsers: Any,
    group: str,
    *,
    summary: str,
    help_text: str,
    description: str,
    host_help: str,
    func: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    """`csms GROUP read` with the options every device read takes; returns its parser for more."""
    read: argparse.ArgumentParser = command_group(subparsers, group, summary).add_parser(
        "read", help=help_text, description=description
    )
    read.add_argument("--host", required=True, help=host_help)
    read.add_argument("--port", type=int, default=502, help="Modbus TCP port (default 502)")
    read.add_argument("--json", action="store_true", help="machine-readable output")
    read.add_argument("--timeout", type=float, default=3.0, help="request timeout in s (default 3)")
    read.set_defaults(func=func)
    return read


def read_failed(group: str, where: str, exc: Exception) -> int:
    """The one-line error of a device that could not be read; exit code 1."""
    print(f"csms {group} read: {where}: {exc}", file=sys.stderr)
    return 1


def print_read(args: argparse.Namespace, data: dict[str, Any], text: Callable[[], str]) -> int:
    """Print what was read: `data` as one JSON line with --json, else the human `text()`."""
    print(json.dumps(data) if args.json else text())
    return 0
