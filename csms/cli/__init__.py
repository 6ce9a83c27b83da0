"""The `csms` command: `serve`, `demo`, API client commands, installer tools and simulators.

Each area registers its subcommands from its own module (`register(subparsers)`); a handler is
`func(args) -> int` (the exit code). Errors are one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

# Modules that add subcommands; each has `register(subparsers) -> None`.
COMMAND_MODULES = [
    "csms.cli.serve",
    "csms.cli.client",
    "csms.cli.meter",
    "csms.cli.modbus",
    "csms.cli.sim_meter",
    "csms.cli.sim_stations",
    "csms.cli.config",
    "csms.cli.operations",
    "csms.cli.scn",
    "csms.cli.demo",
    "csms.cli.simulate",
    "csms.cli.site",
    "csms.cli.session",
    "csms.cli.settings",
    "csms.cli.tags",
    "csms.cli.reports",
    "csms.cli.events",
]

# Commands that build only their own parser: `csms serve` should open its port without first
# importing every other command's module (the simulators, the HTTP client, the meter tools).
QUICK_COMMANDS = {"serve": "csms.cli.serve"}


class CliError(Exception):
    """A user-facing failure: printed as one line, exit code 1 (or `code`)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def command_group(subparsers: Any, name: str, summary: str) -> Any:
    """The subparsers of a command group such as `csms sim …`, created by its first user.

    Several modules add commands to one group (the meter and the station simulators both live
    under `sim`); without an argument the group prints its help and exits with code 2.
    """
    # Kept on the subparsers object itself: keyed by id() a freed parser's group was reused.
    groups: dict[str, Any] = vars(subparsers).setdefault("_csms_groups", {})
    if name not in groups:
        group = subparsers.add_parser(name, help=summary)
        group.set_defaults(func=lambda _args: _usage(group))
        groups[name] = group.add_subparsers(dest=f"{name}_command", metavar="COMMAND")
    return groups[name]


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csms", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    quick = QUICK_COMMANDS.get(words[0]) if words else None
    parser = build_parser([quick] if quick else COMMAND_MODULES)
    args = parser.parse_args(words)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code = int(func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return code
    except CliError as exc:
        print(f"csms: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`csms config get … | head`): stop quietly, as `cat` does.
        # Python flushes stdout again at exit; point it at /dev/null so that flush cannot fail.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return SIGPIPE_EXIT


SIGPIPE_EXIT = 128 + 13
"""Exit code after the output pipe closed: what a process killed by SIGPIPE reports."""


if __name__ == "__main__":
    sys.exit(main())
