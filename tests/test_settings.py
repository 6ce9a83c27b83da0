"""Settings files and variables: the shipped example loads; bad values name the setting."""

from __future__ import annotations

from pathlib import Path

from csms.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent


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


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('ocpp_port = 9100\nunknown_stations = "accept"\n')
    settings = load_settings(path, env={"CSMS_OCPP_PORT": "9200", "CSMS_UNRELATED": "x"})
    assert (settings.ocpp_port, settings.unknown_stations) == (9200, "accept")
    assert load_settings(path, env={}, ocpp_port=9300).ocpp_port == 9300
