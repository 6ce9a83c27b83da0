"""Table tests of the key catalog, value validation and licence checks (pure, no I/O)."""

from __future__ import annotations

import pytest

from csms.config.catalog import CATALOG, PHASE_CODES, lookup, spellings
from csms.config.features import check_license_key, parse_unlocked_features
from csms.config.validation import InvalidValue, check_value, licence_warnings, values_equal

REFERENCE_KEYS = [
    # every key of alfen-ocpp-keys.md and the guide's table 2.1.1
    "FeatureLicenseKey", "UnlockedFeatures", "Station-MaxCurrent", "Connector1-MaxCurrent",
    "Connector2-MaxCurrent", "Connector1.2-MaxCurrent", "Connector2.2-MaxCurrent",
    "Chameleon-MinCurrent", "Phase-Connected", "Static-LoadBalancing", "Active-LoadBalancing",
    "SmartChargingMode", "SmartMeter-MaxCurrent", "SmartMeterIncludesCharger", "Safe-MaxCurrent",
    "ALB-ProtocolSelection", "DirectExternalSuspendSignal", "MBTCPSmart-IsEnabled",
    "MBTCPSmart-SlaveMeterModel", "MBTCPSmart-ConnectionType", "MBTCPSmart-IPAddress",
    "MBTCPSmart-SlaveUnitID", "MBTCP-Smart-SlaveMeterModel", "MbsSlaveTCPIP",
    "MbsSlaveTCPIPValidityTime", "MbsSlaveTCPIPMode", "SCN-IsEnabled", "SCN-NetworkName",
    "SCN-SocketID", "SCN-SocketCount", "SCN-TotalStaticCurrent", "SCN-SocketSafeCurrent",
    "SCN-TotalSafeCurrent", "SCN-AlternatingPeriod", "SCN-PhaseMapping-1", "SCN-PhaseMapping-2",
    "ChargingScheduleAllowedChargingRateUnit", "ConnectorSwitch3to1PhaseSupported",
    "MeterValueSampleInterval", "MeterValuesSampledData", "HeartbeatInterval",
    "WebSocketPingInterval", "GetConfigurationMaxKeys", "OCPPStackVersion",
    "ChargeProfileMaxStackLevel", "ChargingScheduleMaxPeriods", "MaxChargingProfilesInstalled",
]  # fmt: skip


@pytest.mark.parametrize("key", REFERENCE_KEYS)
def test_catalog_knows_every_reference_key(key: str) -> None:
    spec = lookup(key)
    assert spec is not None
    assert spec.description and spec.source


def test_aliased_spelling_is_the_same_setting() -> None:
    assert lookup("MBTCP-Smart-SlaveMeterModel") is lookup("MBTCPSmart-SlaveMeterModel")
    assert spellings("MBTCP-Smart-SlaveMeterModel") == (
        "MBTCPSmart-SlaveMeterModel",
        "MBTCP-Smart-SlaveMeterModel",
    )


def test_catalog_flags() -> None:
    assert CATALOG["UnlockedFeatures"].read_only
    assert CATALOG["GetConfigurationMaxKeys"].read_only
    assert CATALOG["SCN-NetworkName"].reboot and CATALOG["SCN-NetworkName"].feature == "SCN"
    assert CATALOG["Active-LoadBalancing"].feature == "ALB"
    assert CATALOG["Station-MaxCurrent"].unit == "A"
    assert not CATALOG["HeartbeatInterval"].reboot
    assert PHASE_CODES["L1"] == 1 and PHASE_CODES["L3L2L1"] == 9


# (key, value, rule fragment) — acceptance 2 plus one per kind
INVALID = [
    ("SCN-NetworkName", "bad-name!", "only A-Z and 0-9, at most 7 characters"),
    ("SCN-NetworkName", "ABCDEFGH", "only A-Z and 0-9, at most 7 characters"),
    ("SCN-NetworkName", "garage", "only A-Z and 0-9"),
    ("SCN-SocketID", "200", "within 0–128"),
    ("SCN-SocketID", "1.5", "whole number"),
    ("SCN-PhaseMapping-1", "12", "within 1–9"),
    ("SCN-PhaseMapping-1", "0", "within 1–9"),
    ("SCN-PhaseMapping-2", "10", "within 0–9"),
    ("Station-MaxCurrent", "abc", "must be a number"),
    ("Station-MaxCurrent", "nan", "must be a number"),
    ("Station-MaxCurrent", "65", "within 1–64 A"),
    ("SCN-AlternatingPeriod", "10", "within 60–36000 s"),
    ("SCN-SocketSafeCurrent", "5", "within 6–32 A"),
    ("FeatureLicenseKey", "1234-5678", "six groups of 4 hex digits"),
    ("FeatureLicenseKey", "ABCD.1234.ABCD.1234.ABCD.123G", "six groups of 4 hex digits"),
    ("FeatureLicenseKey", "ABCD.1234.ABCD.1234.ABCD", "six groups of 4 hex digits"),
    ("Phase-Connected", "L4", "must be one of L1, L2, L3"),
    ("Active-LoadBalancing", "yes", "must be one of On, Off"),
    ("SCN-IsEnabled", "1", "true or false"),
    ("MBTCPSmart-IPAddress", "192.168.0.256", "IPv4"),
    ("MBTCPSmart-IPAddress", "meter.local", "IPv4"),
    ("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus", "'Bogus' is not one of"),
    ("MeterValuesSampledData", ",".join(["Voltage"] * 10), "at most 9 items"),
    ("HeartbeatInterval", "10", "within 30–86400 s"),
    ("AuthorizationKey", "short", "16 to 40 printable characters"),
    ("GetConfigurationMaxKeys", "50", "read-only"),
    ("UnlockedFeatures", "0x1", "read-only"),
    ("NoSuchKey", "1", "unknown key"),
]


@pytest.mark.parametrize(("key", "value", "rule"), INVALID, ids=[f"{k}={v}" for k, v, _ in INVALID])
def test_invalid_values_are_refused_naming_the_rule(key: str, value: str, rule: str) -> None:
    with pytest.raises(InvalidValue) as info:
        check_value(key, value)
    assert rule in str(info.value)
    assert key in str(info.value)


# (key, typed, sent)
VALID = [
    ("SCN-NetworkName", "GARAGE1", "GARAGE1"),
    ("SCN-SocketID", "0", "0"),
    ("SCN-SocketID", "128", "128"),
    ("SCN-PhaseMapping-2", "0", "0"),
    ("Station-MaxCurrent", "20", "20.0"),
    ("Station-MaxCurrent", " 16.5 ", "16.5"),
    ("SCN-AlternatingPeriod", "900", "900"),
    ("FeatureLicenseKey", "ab12.CD34.0000.ffff.1234.5678", "ab12.CD34.0000.ffff.1234.5678"),
    ("Phase-Connected", "l1l2l3", "L1L2L3"),
    ("Active-LoadBalancing", "on", "On"),
    ("SCN-IsEnabled", "true", "True"),
    ("LocalAuthListEnabled", "TRUE", "true"),
    ("MBTCPSmart-IPAddress", "192.168.0.5", "192.168.000.005"),
    ("ALB-ProtocolSelection", "modbus tcp/ip", "Modbus TCP/IP"),
    ("MeterValuesSampledData", "energy.active.import.register, Current.Import.L1",
     "Energy.Active.Import.Register,Current.Import.L1"),
    ("ConnectorPhaseRotation", "0.RST,1.RTS", "0.RST,1.RTS"),
    ("MBTCP-Smart-SlaveMeterModel", "socomec", "Socomec"),
]  # fmt: skip


@pytest.mark.parametrize(("key", "typed", "sent"), VALID, ids=[f"{k}={v}" for k, v, _ in VALID])
def test_valid_values_are_normalised(key: str, typed: str, sent: str) -> None:
    checked = check_value(key, typed)
    assert checked.value == sent
    assert checked.warnings == ()


def test_force_sends_unknown_keys_and_out_of_range_values() -> None:
    unknown = check_value("Vendor-Thing", "x", force=True)
    assert (unknown.key, unknown.value, unknown.spec) == ("Vendor-Thing", "x", None)
    assert unknown.warnings
    wide = check_value("Station-MaxCurrent", "80", force=True)
    assert wide.value == "80" and "validation skipped" in wide.warnings[0]
    with pytest.raises(InvalidValue, match="read-only"):
        check_value("NumberOfConnectors", "3", force=True)


EQUAL = [
    ("Station-MaxCurrent", "32", "32.0", True),
    ("Station-MaxCurrent", "32", "32.5", False),
    ("Station-MaxCurrent", "100", "100.0", True),  # out of catalog range still compares
    ("SCN-IsEnabled", "True", "true", True),
    ("SCN-IsEnabled", "True", "False", False),
    ("SCN-SocketID", "0", "0", True),
    ("SCN-NetworkName", "GARAGE", "GARAGE2", False),
    ("MBTCPSmart-IPAddress", "192.168.0.5", "192.168.000.005", True),
    ("Unknown-Key", "a", "a", True),
    ("Unknown-Key", "a", "b", False),
    ("SCN-SocketCount", "4", None, False),
]


@pytest.mark.parametrize(("key", "a", "b", "equal"), EQUAL)
def test_values_equal(key: str, a: str, b: str | None, equal: bool) -> None:
    assert values_equal(key, a, b) is equal


def test_license_key_format() -> None:
    assert check_license_key("0123.4567.89AB.CDEF.0000.FFFF") is None
    assert check_license_key("0123.4567.89AB.CDEF.0000") is not None
    assert check_license_key("") is not None


UNLOCKED = [
    ("0", frozenset()),
    ("", frozenset()),
    ("1", frozenset({"SCN", "ALB", "SLB"})),  # SCN includes ALB and SLB (guide 2.2)
    ("0x4", frozenset({"ALB", "SLB"})),
    ("2", frozenset({"SLB"})),
    ("0x11", frozenset({"SCN", "ALB", "SLB", "32A"})),
    ("SCN", frozenset({"SCN", "ALB", "SLB"})),
    ("SLB, ALB", frozenset({"ALB", "SLB"})),
    ("Active Load Balancing", frozenset({"ALB", "SLB"})),
    ("None", frozenset()),
    ("gibberish", None),
    (None, None),
]


@pytest.mark.parametrize(("value", "features"), UNLOCKED)
def test_parse_unlocked_features(value: str | None, features: frozenset[str] | None) -> None:
    assert parse_unlocked_features(value) == features


def test_licence_warnings() -> None:
    scn = lookup("SCN-NetworkName")
    assert "no licence" in licence_warnings(scn, "GARAGE", "0")[0]
    assert licence_warnings(scn, "GARAGE", "1") == []
    assert licence_warnings(scn, "GARAGE", None) == []  # unknown: nothing to say
    conn = lookup("Connector1-MaxCurrent")
    assert "32 A licence" in licence_warnings(conn, "25", "0")[0]
    assert licence_warnings(conn, "25", "0x10") == []
    assert licence_warnings(lookup("HeartbeatInterval"), "60", "0") == []
