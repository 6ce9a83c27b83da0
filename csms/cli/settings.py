"""`csms settings example|check`: the example settings file, and checking a settings file."""

from __future__ import annotations

import argparse
import sys

from csms.cli import CliError, command_group
from csms.settings import SettingsError, load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = command_group(subparsers, "settings", "the settings file: example, check")
    example = group.add_parser(
        "example",
        help="print every setting with its default and description (TOML)",
        description="Print the example settings file, generated from the settings model "
        "(deploy/csms.example.toml is this output).",
    )
    example.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead")
    example.set_defaults(func=_example)
    check = group.add_parser("check", help="validate a settings file (and CSMS_… variables)")
    check.add_argument("file", help="TOML settings file")
    check.set_defaults(func=_check)


def _example(args: argparse.Namespace) -> int:
    from csms.settings_example import render_example

    text = render_example()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _check(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.file)
    except SettingsError as exc:
        raise CliError(str(exc)) from None
    sites = ", ".join(s.id for s in settings.sites) or "none"
    print(f"{args.file}: ok (sites: {sites})")
    return 0
