"""Table tests of the pure SetChargingProfile builder (csms.charging.profiles)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from csms.charging import profiles as p

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC).timestamp()
ALFEN_NEW = p.ProfileCapabilities(rate_unit="A", max_stack_level=15, max_periods=100)
ALFEN_OLD = p.ProfileCapabilities(rate_unit="A", max_stack_level=5, max_periods=10)
WATTS_1PH = p.ProfileCapabilities(rate_unit="W", max_stack_level=3, max_periods=5, phases=1)


@pytest.mark.parametrize(
    ("name", "config", "expected"),
    [
        ("alfen guide 4.7.0", {"ChargingScheduleAllowedChargingRateUnit": "Current",
          "ChargeProfileMaxStackLevel": "15", "ChargingScheduleMaxPeriods": "100",
          "MaxChargingProfilesInstalled": "45"}, p.ProfileCapabilities("A", 15, 100, 45)),
        ("older alfen table", {"ChargingScheduleAllowedChargingRateUnit": "Current",
          "ChargeProfileMaxStackLevel": "5", "ChargingScheduleMaxPeriods": "10",
          "MaxChargingProfilesInstalled": "20"}, p.ProfileCapabilities("A", 5, 10, 20)),
        ("power only", {"ChargingScheduleAllowedChargingRateUnit": "Power"},
         p.ProfileCapabilities("W", 0, 1, None)),
        ("both units prefers current", {"ChargingScheduleAllowedChargingRateUnit": "Current,Power"},
         p.ProfileCapabilities("A", 0, 1, None)),
        ("nothing known is conservative", {}, p.ProfileCapabilities("A", 0, 1, None)),
        ("garbage is conservative", {"ChargeProfileMaxStackLevel": "x",
          "ChargingScheduleMaxPeriods": "-3", "MaxChargingProfilesInstalled": ""},
         p.ProfileCapabilities("A", 0, 1, None)),
    ],
)  # fmt: skip
def test_capabilities_from_config(name, config, expected):
    assert p.capabilities_from_config(config) == expected, name


@pytest.mark.parametrize(
    ("name", "amps", "expected"),
    [
        ("exact", 16.0, 16.0),
        ("down not nearest", 15.99, 15.9),
        ("float noise stays", 0.1 * 3 * 10, 3.0),
        ("tiny noise below a tenth", 7.299999999999, 7.3),
        ("negative is zero", -2.0, 0.0),
        ("zero", 0.0, 0.0),
    ],
)
def test_round_down_to_a_tenth(name, amps, expected):
    assert p.round_down(amps) == expected, name


def test_tx_profile_shape_for_an_alfen():
    payload = p.tx_profile(2, 77, 12.37, ALFEN_NEW, NOW, validity_s=120)
    assert payload == {
        "connectorId": 2,
        "csChargingProfiles": {
            "chargingProfileId": 3002,
            "transactionId": 77,
            "stackLevel": 15,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Absolute",
            "validTo": "2024-05-01T12:02:00Z",
            "chargingSchedule": {
                "startSchedule": "2024-05-01T11:59:00Z",
                "chargingRateUnit": "A",
                "duration": 180,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 12.3}],
            },
        },
    }


@pytest.mark.parametrize(
    ("name", "build", "purpose", "connector", "profile_id", "stack", "valid_to"),
    [
        ("tx new firmware", lambda c: p.tx_profile(1, 5, 10, c, NOW, 60), "TxProfile", 1, 3001,
         15, True),
        ("safe default below the top", lambda c: p.safe_default_profile(6, c, NOW),
         "TxDefaultProfile", 0, 2000, 14, False),
        ("connector default on top", lambda c: p.connector_default_profile(3, 9, c, NOW, 60),
         "TxDefaultProfile", 3, 2003, 15, True),
        ("charge point max", lambda c: p.charge_point_max_profile(20, c, NOW),
         "ChargePointMaxProfile", 0, 1000, 15, False),
    ],
)  # fmt: skip
def test_purposes_ids_and_stack_levels(
    name, build, purpose, connector, profile_id, stack, valid_to
):
    payload = build(ALFEN_NEW)
    profile = payload["csChargingProfiles"]
    assert payload["connectorId"] == connector, name
    assert profile["chargingProfilePurpose"] == purpose, name
    assert profile["chargingProfileId"] == profile_id, name
    assert profile["stackLevel"] == stack, name
    assert ("validTo" in profile) is valid_to, name
    # Same purpose and connector → same id every time, so profiles replace each other.
    assert build(ALFEN_NEW)["csChargingProfiles"]["chargingProfileId"] == profile_id


@pytest.mark.parametrize(
    ("name", "caps", "build", "stack"),
    [
        ("old firmware top is 5", ALFEN_OLD, lambda c: p.tx_profile(1, 1, 8, c, NOW, 60), 5),
        ("only level 0", p.ProfileCapabilities(), lambda c: p.tx_profile(1, 1, 8, c, NOW, 60), 0),
        ("default never negative", p.ProfileCapabilities(),
         lambda c: p.safe_default_profile(6, c, NOW), 0),
    ],
)  # fmt: skip
def test_stack_level_within_station_maximum(name, caps, build, stack):
    assert build(caps)["csChargingProfiles"]["stackLevel"] == stack, name


def test_watts_only_when_amps_are_not_allowed():
    schedule = p.tx_profile(1, 1, 16.05, WATTS_1PH, NOW, 60)["csChargingProfiles"][
        "chargingSchedule"
    ]
    assert schedule["chargingRateUnit"] == "W"
    assert schedule["chargingSchedulePeriod"][0]["limit"] == 16.0 * 230  # rounded down in A first


@pytest.mark.parametrize(
    ("name", "max_periods", "periods", "expected"),
    [
        ("fits", 3, [(0, 10), (60, 12)], [(0, 10.0), (60, 12.0)]),
        ("cut increasing keeps kept", 2, [(0, 10), (60, 12), (120, 14)], [(0, 10.0), (60, 12.0)]),
        ("cut takes lowest dropped", 2, [(0, 16), (60, 12), (120, 6)], [(0, 16.0), (60, 6.0)]),
        ("one period", 1, [(0, 16), (60, 8)], [(0, 8.0)]),
        ("unsorted input", 5, [(60, 8), (0, 16)], [(0, 16.0), (60, 8.0)]),
    ],
)
def test_schedule_periods_truncate_safely(name, max_periods, periods, expected):
    caps = p.ProfileCapabilities(max_periods=max_periods)
    got = p.schedule_periods(periods, caps)
    assert [(x["startPeriod"], x["limit"]) for x in got] == expected, name


@pytest.mark.parametrize(("name", "periods"), [("empty", []), ("first not at zero", [(30, 10.0)])])
def test_schedule_periods_refuse_bad_input(name, periods):
    with pytest.raises(ValueError):
        p.schedule_periods(periods, ALFEN_NEW)


def test_tx_profile_needs_a_real_connector():
    with pytest.raises(ValueError, match="connector"):
        p.tx_profile(0, 1, 10, ALFEN_NEW, NOW, 60)


def test_timestamps_are_utc_with_z():
    assert p.utc_timestamp(NOW + 0.9) == "2024-05-01T12:00:00Z"
    assert p.parse_timestamp("2024-05-01T12:00:00Z") == NOW
    assert p.parse_timestamp("2024-05-01T14:00:00+02:00") == NOW
    assert p.parse_timestamp("2024-05-01T12:00:00") == NOW


@pytest.mark.parametrize(
    ("name", "response", "expected"),
    [
        ("single period", {"status": "Accepted", "scheduleStart": "2024-05-01T11:59:00Z",
          "chargingSchedule": {"chargingRateUnit": "A",
                               "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}]}},
         10.0),
        ("second period in force", {"status": "Accepted", "chargingSchedule": {
            "startSchedule": "2024-05-01T11:58:00Z", "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}, {"startPeriod": 60,
                                        "limit": 6}, {"startPeriod": 600, "limit": 20}]}}, 6.0),
        ("watts converted", {"status": "Accepted", "chargingSchedule": {
            "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0,
                                                                  "limit": 6900}]}}, 10.0),
        ("watts on one phase", {"status": "Accepted", "chargingSchedule": {
            "chargingRateUnit": "W", "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 2300, "numberPhases": 1}]}}, 10.0),
        ("-1: no limit known in that unit", {"status": "Accepted", "chargingSchedule": {
            "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0,
                                                                  "limit": -1}]}}, None),
        ("-1 in watts", {"status": "Accepted", "chargingSchedule": {
            "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0,
                                                                  "limit": -1.0}]}}, None),
        ("limit missing", {"status": "Accepted", "chargingSchedule": {
            "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0}]}}, None),
        ("limit not a number", {"status": "Accepted", "chargingSchedule": {
            "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0,
                                                                  "limit": "x"}]}}, None),
        ("no periods", {"status": "Accepted", "chargingSchedule": {
            "chargingRateUnit": "A", "chargingSchedulePeriod": []}}, None),
        ("rejected", {"status": "Rejected"}, None),
        ("no schedule", {"status": "Accepted"}, None),
    ],
)  # fmt: skip
def test_composite_limit(name, response, expected):
    assert p.composite_limit_a(response, NOW) == expected, name


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("A", {"connectorId": 1, "duration": 60, "chargingRateUnit": "A"}),
        ("W", {"connectorId": 1, "duration": 60, "chargingRateUnit": "W"}),
        (None, {"connectorId": 1, "duration": 60}),
    ],
)
def test_composite_request_asks_in_the_stations_unit(unit, expected):
    assert p.composite_request(1, unit) == expected


def test_watt_profile_on_a_one_phase_site_names_its_phases():
    one = p.ProfileCapabilities(rate_unit="W", phases=1)
    period = p.tx_profile(1, 7, 10.0, one, NOW, 60)["csChargingProfiles"]["chargingSchedule"][
        "chargingSchedulePeriod"
    ][0]
    assert period == {"startPeriod": 0, "limit": 2300.0, "numberPhases": 1}
    three = p.ProfileCapabilities(rate_unit="W", phases=3)
    period = p.tx_profile(1, 7, 10.0, three, NOW, 60)["csChargingProfiles"]["chargingSchedule"][
        "chargingSchedulePeriod"
    ][0]
    assert period == {"startPeriod": 0, "limit": 6900.0}


def test_a_sockets_safe_default_sits_beneath_the_connector_level_profile():
    caps = p.ProfileCapabilities(max_stack_level=5)
    safe = p.safe_socket_profile(2, 6.0, caps, NOW)
    fallback = p.connector_default_profile(2, 10.0, caps, NOW, 60)
    assert safe["connectorId"] == 2
    profile = safe["csChargingProfiles"]
    assert profile["chargingProfilePurpose"] == "TxDefaultProfile"
    assert profile["stackLevel"] == 4 < fallback["csChargingProfiles"]["stackLevel"]
    assert profile["chargingProfileId"] != fallback["csChargingProfiles"]["chargingProfileId"]
    assert "validTo" not in profile and "duration" not in profile["chargingSchedule"]
    with pytest.raises(ValueError, match="connector id"):
        p.safe_socket_profile(0, 6.0, caps, NOW)


def test_ids_leave_room_within_installed_maximum():
    # Alfen's smallest MaxChargingProfilesInstalled seen is 20; a double station needs 4.
    assert p.profiles_needed(2) <= 20
    ids = {
        p.profile_id(purpose, c)
        for purpose in ("TxProfile", "TxDefaultProfile", p.SAFE_SOCKET)
        for c in (1, 2)
    }
    assert len(ids) == 6
