"""Meter settings: defaults per type and model; bad settings stop start-up (acceptance 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from csms.meter.config import MeterSettings, load_custom_map
from csms.settings import SettingsError, load_settings

CUSTOM_TOML = """
word_order = "low-first"
{extra}
[current_l1]
register = 12
function_code = 4
data_type = "u32"
scale = 0.001
[current_l2]
register = 14
function_code = 4
data_type = "u32"
scale = 0.001
[current_l3]
register = 16
function_code = 4
data_type = "u32"
scale = 0.001
"""


def site_with(meter: dict) -> dict:
    return {"id": "home", "meter": meter}


def load_error(meter: dict) -> str:
    with pytest.raises(SettingsError) as info:
        load_settings(env={}, sites=[site_with(meter)])
    return str(info.value)


def test_defaults_follow_type_and_model() -> None:
    assert MeterSettings(type="modbus").unit == 5  # Socomec E27, Alfen's default
    assert MeterSettings(type="modbus").port == 502
    assert MeterSettings(type="modbus", model="eastron-sdm630").unit == 1
    assert MeterSettings(type="modbus", model="eastron-sdm630", unit=3).unit == 3
    assert MeterSettings(type="dsmr-mqtt").port == 1883
    assert MeterSettings(type="dsmr-tcp", port=8088).port == 8088


def custom_toml(prefix: str = "", extra: str = "") -> str:
    """The custom map with its tables under `prefix` (e.g. "sites.meter.custom.")."""
    return CUSTOM_TOML.replace("[current", f"[{prefix}current").replace("{extra}", extra)


def test_a_site_meter_from_toml(tmp_path: Path) -> None:
    head = '[[sites]]\nid = "home"\n[sites.meter]\ntype = "modbus"\nmodel = "custom"\n'
    config = tmp_path / "csms.toml"
    config.write_text(head + "[sites.meter.custom]\n" + custom_toml("sites.meter.custom."))
    # unsigned currents without power registers: export would read as import, so say so
    with pytest.raises(SettingsError, match=r"sites\[0\]\.meter\.custom: .*magnitude_only"):
        load_settings(config, env={})
    config.write_text(
        head
        + "[sites.meter.custom]\n"
        + custom_toml("sites.meter.custom.", extra="magnitude_only = true")
    )
    meter = load_settings(config, env={}).sites[0].meter
    register_map = meter.register_map()
    assert register_map.word_order == "low-first"
    assert register_map.magnitude_only
    assert [s.address for s in register_map.current] == [12, 14, 16]
    assert register_map.current[0].scale == 0.001


@pytest.mark.parametrize(
    ("meter", "names"),
    [
        pytest.param(
            {"type": "modbus", "model": "socomec-e99"},
            ["sites[0].meter.model", "unknown meter model 'socomec-e99'", "socomec-e27", "abb-b23"],
            id="unknown-preset-lists-known",
        ),
        pytest.param(
            {"type": "modbus", "port": 70000},
            ["sites[0].meter.port", "65535"],
            id="port-out-of-range",
        ),
        pytest.param(
            {"type": "modbus", "port": 0},
            ["sites[0].meter.port"],
            id="port-zero",
        ),
        pytest.param(
            {
                "type": "modbus",
                "model": "custom",
                "custom": {"current_l1": {"register": 1}, "current_l3": {"register": 5}},
            },
            ["sites[0].meter.custom.current_l2", "required"],
            id="custom-map-missing-phase",
        ),
        pytest.param(
            {
                "type": "modbus",
                "model": "custom",
                "custom": {
                    "current_l1": {"register": 1},
                    "current_l2": {"function_code": 4},
                    "current_l3": {"register": 5},
                },
            },
            ["sites[0].meter.custom.current_l2.register", "required"],
            id="custom-map-missing-register",
        ),
        pytest.param(
            {"type": "modbus", "model": "custom"},
            ["sites[0].meter", "[sites.meter.custom]"],
            id="custom-without-map",
        ),
        pytest.param(
            {
                "type": "modbus",
                "model": "custom",
                "custom": {
                    "current_l1": {"register": 1, "data_type": "s32"},
                    "current_l2": {"register": 3, "data_type": "s32"},
                    "current_l3": {"register": 5, "data_type": "s32"},
                    "power_l1": {"register": 9},
                },
            },
            ["sites[0].meter.custom", "power_l2, power_l3 missing"],
            id="partial-power-registers",
        ),
        pytest.param(
            {
                "type": "modbus",
                "model": "custom",
                "custom": {
                    "current_l1": {"register": 1, "data_type": "f32"},
                    "current_l2": {"register": 3, "data_type": "f32", "scale": 0},
                    "current_l3": {"register": 5, "data_type": "f32"},
                },
            },
            ["sites[0].meter.custom.current_l2.scale", "non-zero"],
            id="zero-scale",
        ),
        pytest.param(
            {
                "type": "modbus",
                "model": "custom",
                "custom": {
                    "current_l1": {"register": 1, "data_type": "s64"},
                    "current_l2": {"register": 3, "data_type": "s32"},
                    "current_l3": {"register": 5, "data_type": "s32"},
                },
            },
            ["sites[0].meter.custom", "overlaps"],
            id="overlapping-registers",
        ),
        pytest.param(
            {
                "type": "modbus",
                "model": "custom",
                "custom": {
                    "current_l1": {"register": 1, "data_type": "u24"},
                    "current_l2": {"register": 3},
                    "current_l3": {"register": 5},
                },
            },
            ["sites[0].meter.custom.current_l1.data_type"],
            id="unknown-data-type",
        ),
        pytest.param({"type": "dsmr-tcp"}, ["sites[0].meter", "port is required"], id="dsmr-port"),
        pytest.param({"type": "serial"}, ["sites[0].meter.type"], id="unknown-type"),
        pytest.param({"type": "modbus", "unit": 300}, ["sites[0].meter.unit"], id="unit-range"),
        pytest.param({"type": "modbus", "hots": "x"}, ["sites[0].meter.hots"], id="typo-key"),
    ],
)
def test_bad_meter_setting_stops_start_up_naming_it(meter: dict, names: list[str]) -> None:
    message = load_error(meter)
    for name in names:
        assert name in message


def test_custom_map_file(tmp_path: Path) -> None:
    path = tmp_path / "map.toml"
    path.write_text(custom_toml(extra="magnitude_only = true"))
    assert load_custom_map(path).register_map().word_order == "low-first"
    # the same table copied out of csms.toml, under [custom], is accepted too
    path.write_text("[custom]\n" + custom_toml("custom.", extra="magnitude_only = true"))
    assert load_custom_map(path).magnitude_only


def test_custom_map_file_errors_name_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "map.toml"
    path.write_text(custom_toml().replace("[current_l2]\nregister = 14\n", "[current_l2]\n"))
    with pytest.raises(ValueError, match=r"map\.toml: current_l2\.register: Field required"):
        load_custom_map(path)
    with pytest.raises(ValueError, match="not found"):
        load_custom_map(tmp_path / "missing.toml")
