"""The `csms` command line against a running central system, as the tests of several packages
drive it: in a thread (it blocks on HTTP), its output captured by pytest's `capsys`."""

from __future__ import annotations

import asyncio

import pytest

from csms.app import CentralSystem
from csms.cli import main


async def run_cli(
    capsys: pytest.CaptureFixture[str], api_url: str, *argv: str
) -> tuple[int, str, str]:
    """Run `csms ARGV --api API_URL`; return (exit code, stdout, stderr) of this command only."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, [*argv, "--api", api_url])
    out, err = capsys.readouterr()
    return code, out, err


async def csms(
    capsys: pytest.CaptureFixture[str], cs: CentralSystem, *argv: str
) -> tuple[int, str, str]:
    """Run `csms ARGV` against central system `cs`; return (exit code, stdout, stderr)."""
    return await run_cli(capsys, cs.api_url, *argv)


async def csms_ok(capsys: pytest.CaptureFixture[str], cs: CentralSystem, *argv: str) -> str:
    """Run `csms ARGV` against `cs`, which must succeed; return its stdout."""
    code, out, err = await csms(capsys, cs, *argv)
    assert code == 0, err
    return out


def one_line_error(code: int, err: str) -> str:
    """The single `csms: ...` line a failed command printed (and nothing else)."""
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("csms: "), err
    return lines[0]
