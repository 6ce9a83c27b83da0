"""The API reaches the services only through their interfaces (issue 17): an import-linter
contract in pyproject.toml, run by `make test`, checked here to fail on a leak."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import csms

ROOT = Path(csms.__file__).parent.parent
CONTRACT = "the API and the console use services only through their interfaces"


@pytest.mark.parametrize(
    ("leak", "chain"),
    [
        ("from csms.config.service import ConfigService", "csms.api._leak -> csms.config.service"),
        ("from csms.charging.loop import SiteLoop", "csms.api._leak -> csms.charging.loop"),
        ("from csms.ocpp.registry import StationRegistry", "csms.api._leak -> csms.ocpp.registry"),
    ],
)
def test_the_contract_catches_the_api_importing_a_service(
    tmp_path: Path, leak: str, chain: str
) -> None:
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "balancing", tmp_path / "balancing", ignore=ignore)
    shutil.copytree(ROOT / "csms", tmp_path / "csms", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    # Only under TYPE_CHECKING, as a type annotation would: still a leak.
    (tmp_path / "csms" / "api" / "_leak.py").write_text(
        f"from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    {leak}\n"
    )
    lint = [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(lint, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert f"{CONTRACT} BROKEN" in result.stdout
    assert chain in result.stdout
