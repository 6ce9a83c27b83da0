"""The simulated station's configuration keys (csms/sim/configuration.py)."""

from __future__ import annotations

import pytest

from csms.sim.configuration import (
    FEATURE_ALB,
    FEATURE_SCN,
    FEATURE_SLB,
    StationConfiguration,
    make_license_key,
    parse_license_key,
)


@pytest.mark.parametrize(
    ("key", "value", "status"),
    [
        ("Station-MaxCurrent", "20.0", "Accepted"),
        ("Station-MaxCurrent", "65", "Rejected"),
        ("Station-MaxCurrent", "lots", "Rejected"),
        ("Connector1-MaxCurrent", "5.5", "Rejected"),
        ("Connector2-MaxCurrent", "16", "NotSupported"),  # a single station has no socket 2
        ("Chameleon-MinCurrent", "14.0", "Accepted"),
        ("Phase-Connected", "L3L1L2", "RebootRequired"),
        ("Phase-Connected", "L1L1L1", "Rejected"),
        ("HeartbeatInterval", "29", "Rejected"),
        ("HeartbeatInterval", "60", "Accepted"),
        ("MeterValueSampleInterval", "10", "Accepted"),
        ("MeterValuesSampledData", "Current.Import,Current.Offered", "Accepted"),
        ("MeterValuesSampledData", "Current.Import,Nonsense", "Rejected"),
        ("MeterValuesSampledData", ",".join(["Voltage"] * 10), "Rejected"),
        ("StopTransactionOnEVSideDisconnect", "FALSE", "Accepted"),
        ("StopTransactionOnEVSideDisconnect", "maybe", "Rejected"),
        ("GetConfigurationMaxKeys", "50", "Rejected"),  # read-only
        ("UnlockedFeatures", "0xFFFFFFFF", "Rejected"),  # read-only
        ("ChargeProfileMaxStackLevel", "99", "Rejected"),  # read-only
        ("NoSuchKey", "1", "NotSupported"),
        ("FeatureLicenseKey", "not-a-key", "Rejected"),
        ("FeatureLicenseKey", make_license_key(FEATURE_ALB), "RebootRequired"),
        ("AuthorizationKey", "short", "Rejected"),
        ("AuthorizationKey", "0123456789abcdef", "Accepted"),
    ],
)
def test_change_configuration_answers(key: str, value: str, status: str) -> None:
    assert StationConfiguration(sockets=1).change(key, value) == status


def test_reboot_keys_take_effect_only_after_reboot() -> None:
    store = StationConfiguration(sockets=2)
    assert store.change("Phase-Connected", "L2L3L1") == "RebootRequired"
    assert store.value("Phase-Connected") == "L1L2L3"
    assert store.pending == {"Phase-Connected": "L2L3L1"}
    store.reboot()
    assert store.value("Phase-Connected") == "L2L3L1"
    assert store.pending == {}


def test_licence_key_unlocks_features_after_reboot_with_inclusion() -> None:
    store = StationConfiguration(sockets=1)
    assert store.value("UnlockedFeatures") == "0x00000000"
    key = make_license_key(FEATURE_SCN)
    assert store.change("FeatureLicenseKey", key) == "RebootRequired"
    assert store.unlocked_features == 0
    store.reboot()
    # SCN includes Standard and Active Load Balancing (guide 2.2).
    assert store.unlocked_features == FEATURE_SCN | FEATURE_SLB | FEATURE_ALB
    assert store.value("UnlockedFeatures") == "0x00000007"
    assert store.value("FeatureLicenseKey") == key


def test_licence_keys_add_up_and_bad_checksums_unlock_nothing() -> None:
    store = StationConfiguration(sockets=1, unlocked_features=0x100)
    good = make_license_key(FEATURE_SLB)
    forged = good[:-4] + ("0000" if not good.endswith("0000") else "FFFF")
    store.change("FeatureLicenseKey", forged)
    store.reboot()
    assert store.unlocked_features == 0x100
    store.change("FeatureLicenseKey", good.lower())
    store.reboot()
    assert store.unlocked_features == 0x100 | FEATURE_SLB


@pytest.mark.parametrize("features", [0, 1, 0x7, 0x1000000, 0xFFFFFFFF])
def test_licence_key_round_trip(features: int) -> None:
    key = make_license_key(features)
    assert len(key) == 29 and key.count(".") == 5
    assert parse_license_key(key) == features
    assert parse_license_key(key.replace(".", "-")) is None


def test_writes_to_unlicensed_features_are_accepted_and_ignored() -> None:
    store = StationConfiguration(sockets=1)
    assert store.change("Active-LoadBalancing", "On") == "RebootRequired"
    assert store.change("SCN-NetworkName", "HOME1") == "RebootRequired"
    assert store.change("Static-LoadBalancing", "On") == "Accepted"
    store.reboot()
    assert store.value("Active-LoadBalancing") == "Off"
    assert store.value("SCN-NetworkName") == ""
    assert store.value("Static-LoadBalancing") == "Off"
    # Invalid values are still rejected.
    assert store.change("SCN-NetworkName", "home-1") == "Rejected"
    licensed = StationConfiguration(sockets=1, unlocked_features=FEATURE_ALB)
    assert licensed.change("Active-LoadBalancing", "On") == "RebootRequired"
    assert licensed.change("Static-LoadBalancing", "On") == "Accepted"  # ALB includes SLB
    licensed.reboot()
    assert licensed.value("Active-LoadBalancing") == "On"
    assert licensed.value("Static-LoadBalancing") == "On"


def test_get_configuration_all_keys_and_max_keys() -> None:
    store = StationConfiguration(sockets=2)
    everything, unknown = store.get(None)
    assert unknown == []
    assert len(everything) > 35  # no key list: every key, beyond GetConfigurationMaxKeys
    names = [entry.key for entry in everything]
    assert "Connector2-MaxCurrent" in names and "SCN-PhaseMapping-2" in names
    requested = [*names[:40], "Bogus"]
    answered, unknown = store.get(requested)
    assert [entry.key for entry in answered] == names[:35]  # only GetConfigurationMaxKeys
    assert unknown == []
    answered, unknown = store.get(["Bogus", "Station-MaxCurrent", "MBTCP-Smart-SlaveMeterModel"])
    assert unknown == ["Bogus"]
    assert [(e.key, e.readonly, e.value) for e in answered] == [
        ("Station-MaxCurrent", False, "32.0"),
        ("MBTCP-Smart-SlaveMeterModel", False, "Socomec"),  # the guide's spelling works too
    ]


def test_write_only_authorization_key_has_no_value() -> None:
    store = StationConfiguration()
    store.change("AuthorizationKey", "0123456789abcdef")
    (entry,), _ = store.get(["AuthorizationKey"])
    assert entry.value is None and entry.to_ocpp() == {"key": "AuthorizationKey", "readonly": False}
    assert store.value("AuthorizationKey") == "0123456789abcdef"


def test_overrides_set_read_only_keys_and_reject_nonsense() -> None:
    store = StationConfiguration(
        overrides={"ChargeProfileMaxStackLevel": "5", "HeartbeatInterval": "60"}
    )
    assert store.integer("ChargeProfileMaxStackLevel") == 5
    assert store.integer("HeartbeatInterval") == 60
    with pytest.raises(ValueError, match="not known"):
        StationConfiguration(overrides={"Nope": "1"})
    with pytest.raises(ValueError, match="not valid"):
        StationConfiguration(overrides={"HeartbeatInterval": "1"})
