"""Settings files and variables: the shipped example loads; bad values name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from csms.cli import main
from csms.settings import load_settings
from csms.settings_example import example_settings, missing_settings, render_example

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "csms.example.toml"
REGENERATE = "csms settings example -o deploy/csms.example.toml"


def test_example_settings_file_loads() -> None:
    settings = load_settings(ROOT / "deploy" / "csms.example.toml", env={})
    assert settings.ocpp_port == 9000 and settings.unknown_stations == "pending"
    site = settings.sites[0]
    assert (site.id, site.grid_limit_a, site.meter.model, site.meter.unit) == (
        "home",
        25,
        "socomec-e27",
        5,
    )
    assert settings.site_of("ALF-0001") is site
    assert settings == example_settings()


def test_example_file_is_generated_from_the_settings_model() -> None:
    """Fails when a setting was added (or changed) without regenerating the example."""
    assert EXAMPLE.read_text(encoding="utf-8") == render_example(), (
        f"deploy/csms.example.toml is out of date: regenerate it with `{REGENERATE}`"
    )


def test_example_shows_every_setting() -> None:
    assert missing_settings(render_example()) == []
    for setting in ("ramp_a_per_s", "renew_before_s", "parent", "start_hold_s"):
        assert f"{setting} = " in render_example()


def test_a_missing_setting_is_named() -> None:
    text = render_example()
    without = "\n".join(line for line in text.splitlines() if "ramp_a_per_s" not in line)
    assert missing_settings(without) == ["sites.ramp_a_per_s"]
    without = text.replace("[charging]", "[charging_off]")
    assert "charging.profile_validity_s" in missing_settings(without)


def test_settings_cli_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "csms.toml"
    assert main(["settings", "example", "--output", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == render_example()
    assert main(["settings", "check", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: ok (sites: home)\n"
    path.write_text(render_example().replace("grid_limit_a = 25", "grid_limit_a = -1"))
    assert main(["settings", "check", str(path)]) == 1
    assert capsys.readouterr().err.startswith("csms: setting sites[0].grid_limit_a:")


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('ocpp_port = 9100\nunknown_stations = "accept"\n')
    settings = load_settings(path, env={"CSMS_OCPP_PORT": "9200", "CSMS_UNRELATED": "x"})
    assert (settings.ocpp_port, settings.unknown_stations) == (9200, "accept")
    assert load_settings(path, env={}, ocpp_port=9300).ocpp_port == 9300


def test_tables_are_not_read_from_one_variable(tmp_path: Path) -> None:
    """Nested tables ([cluster], [charging], …) come from the TOML file; a variable of that name
    (set for something else, e.g. by a container platform) is ignored rather than failing."""
    path = tmp_path / "c.toml"
    path.write_text("[cluster]\nnode_lease_s = 9\n")
    env = {"CSMS_CLUSTER": "yes", "CSMS_SITES": "x", "CSMS_CHARGING": "x", "CSMS_ALERTS": "x"}
    settings = load_settings(path, env=env)
    assert settings.cluster.node_lease_s == 9
