"""Table tests of the simulator's OCPP 1.6 smart-charging logic (csms/sim/smart_charging.py)."""

from __future__ import annotations

from typing import Any

import pytest

from csms.sim import smart_charging as sc

T0 = 1_699_920_000.0  # 2023-11-14T00:00:00Z
TX = sc.Transaction(transaction_id=77, started_at=T0 + 600)
RULES = sc.ProfileRules(connectors=2)


def iso(t: float) -> str:
    return sc.format_time(t)


def ocpp(
    profile_id: int,
    purpose: str,
    stack: int,
    periods: list[tuple[int, float]] | list[tuple[int, float, int]],
    *,
    kind: str = "Absolute",
    start: float | None = T0,
    duration: int | None = None,
    unit: str = "A",
    valid_from: float | None = None,
    valid_to: float | None = None,
    recurrency: str | None = None,
    transaction_id: int | None = None,
) -> dict[str, Any]:
    """An OCPP `csChargingProfiles` object."""
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            {"startPeriod": p[0], "limit": p[1], **({"numberPhases": p[2]} if len(p) > 2 else {})}
            for p in periods
        ],
    }
    if start is not None and kind != "Relative":
        schedule["startSchedule"] = iso(start)
    if duration is not None:
        schedule["duration"] = duration
    data: dict[str, Any] = {
        "chargingProfileId": profile_id,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
    }
    for key, value in (
        ("validFrom", None if valid_from is None else iso(valid_from)),
        ("validTo", None if valid_to is None else iso(valid_to)),
        ("recurrencyKind", recurrency),
        ("transactionId", transaction_id),
    ):
        if value is not None:
            data[key] = value
    return data


def installed(*items: tuple[int, dict[str, Any]], installed_at: float = T0) -> tuple:
    """Install (connector, profile) pairs in order, with TX running on connector 1."""
    profiles: tuple[sc.ChargingProfile, ...] = ()
    for connector, data in items:
        decision = sc.install(
            profiles, sc.parse_profile(connector, data, installed_at), RULES, {1: TX}
        )
        assert decision.accepted, decision.reason
        profiles = decision.profiles
    return profiles


CPMAX, DEFAULT, TXP = sc.CHARGE_POINT_MAX, sc.TX_DEFAULT, sc.TX

# (name, installed profiles, connector, time, expected amps or None, expected source id)
LIMIT_CASES = [
    ("no profile: no OCPP limit", [], 1, T0, None, None),
    ("ChargePointMax on connector 0 caps connector 1", [(0, ocpp(1, CPMAX, 0, [(0, 20)]))], 1,
     T0 + 5, 20, 1),
    ("ChargePointMax is what connector 0 reports", [(0, ocpp(1, CPMAX, 0, [(0, 20)]))], 0,
     T0 + 5, 20, 1),
    ("TxDefault on connector 0 applies to connector 2", [(0, ocpp(2, DEFAULT, 0, [(0, 16)]))], 2,
     T0 + 5, 16, 2),
    ("TxDefault does not show on connector 0", [(0, ocpp(2, DEFAULT, 0, [(0, 16)]))], 0, T0 + 5,
     None, None),
    ("connector-specific TxDefault wins over connector 0, even at a lower stack level",
     [(0, ocpp(2, DEFAULT, 5, [(0, 16)])), (1, ocpp(3, DEFAULT, 1, [(0, 10)]))], 1, T0 + 5, 10, 3),
    ("connector-specific TxDefault does not touch the other connector",
     [(0, ocpp(2, DEFAULT, 5, [(0, 16)])), (1, ocpp(3, DEFAULT, 1, [(0, 10)]))], 2, T0 + 5, 16, 2),
    ("TxProfile overrules TxDefault", [(0, ocpp(2, DEFAULT, 9, [(0, 8)])),
                                       (1, ocpp(4, TXP, 0, [(0, 13)]))], 1, T0 + 700, 13, 4),
    ("min of ChargePointMax and TxProfile", [(0, ocpp(1, CPMAX, 0, [(0, 11)])),
                                             (1, ocpp(4, TXP, 0, [(0, 13)]))], 1, T0 + 700, 11, 1),
    ("higher stack level wins", [(1, ocpp(5, DEFAULT, 1, [(0, 10)])),
                                 (1, ocpp(6, DEFAULT, 2, [(0, 20)]))], 1, T0 + 5, 20, 6),
    ("higher stack level past its duration falls back",
     [(1, ocpp(5, DEFAULT, 1, [(0, 10)])), (1, ocpp(6, DEFAULT, 2, [(0, 20)], duration=60))], 1,
     T0 + 60, 10, 5),
    ("higher stack level not yet valid falls back",
     [(1, ocpp(5, DEFAULT, 1, [(0, 10)])),
      (1, ocpp(6, DEFAULT, 2, [(0, 20)], valid_from=T0 + 100))], 1, T0 + 99, 10, 5),
    ("validFrom reached", [(1, ocpp(6, DEFAULT, 2, [(0, 20)], valid_from=T0 + 100))], 1, T0 + 100,
     20, 6),
    ("validTo passed", [(1, ocpp(6, DEFAULT, 2, [(0, 20)], valid_to=T0 + 100))], 1, T0 + 100, None,
     None),
    ("absolute schedule periods", [(1, ocpp(7, DEFAULT, 0, [(0, 6), (300, 12), (900, 0)]))], 1,
     T0 + 301, 12, 7),
    ("absolute schedule before its start", [(1, ocpp(7, DEFAULT, 0, [(0, 6)], start=T0 + 50))], 1,
     T0 + 49, None, None),
    ("relative schedule counts from the transaction start",
     [(1, ocpp(8, TXP, 0, [(0, 6), (60, 16)], kind="Relative"))], 1, TX.started_at + 61, 16, 8),
    ("relative schedule in its first period", [(1, ocpp(8, TXP, 0, [(0, 6), (60, 16)],
                                                       kind="Relative"))], 1,
     TX.started_at + 59, 6, 8),
    ("daily recurring, second day", [(0, ocpp(9, CPMAX, 0, [(0, 25), (18 * 3600, 10)],
                                              kind="Recurring", recurrency="Daily"))], 0,
     T0 + 86400 + 19 * 3600, 10, 9),
    ("daily recurring, next morning", [(0, ocpp(9, CPMAX, 0, [(0, 25), (18 * 3600, 10)],
                                                kind="Recurring", recurrency="Daily"))], 0,
     T0 + 2 * 86400 + 3600, 25, 9),
    ("weekly recurring with a duration", [(0, ocpp(10, CPMAX, 0, [(0, 8)], kind="Recurring",
                                                   recurrency="Weekly", duration=3600))], 0,
     T0 + 7 * 86400 + 1800, 8, 10),
    ("weekly recurring outside its duration", [(0, ocpp(10, CPMAX, 0, [(0, 8)], kind="Recurring",
                                                        recurrency="Weekly", duration=3600))], 0,
     T0 + 7 * 86400 + 3600, None, None),
    ("recurring is not active before startSchedule", [(0, ocpp(10, CPMAX, 0, [(0, 8)],
                                                               kind="Recurring",
                                                               recurrency="Daily"))], 0, T0 - 1,
     None, None),
    ("watts become amps at 230 V x 3 phases", [(1, ocpp(11, DEFAULT, 0, [(0, 11040)], unit="W"))],
     1, T0, 16, 11),
    ("watts on 1 phase", [(1, ocpp(11, DEFAULT, 0, [(0, 2300, 1)], unit="W"))], 1, T0, 10, 11),
]  # fmt: skip


@pytest.mark.parametrize(
    ("items", "connector", "t", "amps", "source"),
    [case[1:] for case in LIMIT_CASES],
    ids=[case[0] for case in LIMIT_CASES],
)
def test_connector_limit(items, connector, t, amps, source) -> None:
    rules = sc.ProfileRules(connectors=2, allowed_units=frozenset({"A", "W"}))
    profiles: tuple[sc.ChargingProfile, ...] = ()
    for cid, data in items:
        decision = sc.install(profiles, sc.parse_profile(cid, data, T0), rules, {1: TX})
        assert decision.accepted, decision.reason
        profiles = decision.profiles
    tx = TX if connector == 1 else None
    limit = sc.connector_limit(profiles, connector, t, tx)
    if amps is None:
        assert limit is None
    else:
        assert limit is not None
        assert limit.amps == pytest.approx(amps)
        assert limit.profile_id == source


def test_txprofile_applies_only_to_its_transaction() -> None:
    profiles = installed((1, ocpp(4, TXP, 0, [(0, 13)])))
    assert profiles[0].transaction_id == TX.transaction_id  # bound to the running transaction
    other = sc.Transaction(transaction_id=78, started_at=T0)
    assert sc.connector_limit(profiles, 1, T0 + 700, other) is None
    assert sc.connector_limit(profiles, 1, T0 + 700, None) is None
    assert sc.end_transaction(profiles, 1) == ()


def test_relative_txdefault_without_transaction_starts_at_the_anchor() -> None:
    profiles = installed((1, ocpp(8, DEFAULT, 0, [(0, 6), (60, 16)], kind="Relative")))
    assert sc.connector_limit(profiles, 1, T0 + 1000, None, anchor=T0 + 1000).amps == 6


# (name, connector, profile, rules, transactions, expected reason fragment)
REJECT_CASES = [
    ("stack level above ChargeProfileMaxStackLevel", 1, ocpp(1, DEFAULT, 6, [(0, 10)]),
     sc.ProfileRules(connectors=2, max_stack_level=5), {}, "ChargeProfileMaxStackLevel"),
    ("more periods than ChargingScheduleMaxPeriods", 1,
     ocpp(1, DEFAULT, 0, [(i * 60, 10) for i in range(11)]),
     sc.ProfileRules(connectors=2, max_periods=10), {}, "ChargingScheduleMaxPeriods"),
    ("W when only Current is allowed", 1, ocpp(1, DEFAULT, 0, [(0, 4000)], unit="W"), RULES, {},
     "chargingRateUnit"),
    ("ChargePointMaxProfile on a connector", 1, ocpp(1, CPMAX, 0, [(0, 10)]), RULES, {},
     "connector 0"),
    ("TxProfile on connector 0", 0, ocpp(1, TXP, 0, [(0, 10)]), RULES, {1: TX}, "connector id > 0"),
    ("TxProfile without a transaction", 2, ocpp(1, TXP, 0, [(0, 10)]), RULES, {1: TX},
     "no transaction"),
    ("TxProfile for another transaction", 1, ocpp(1, TXP, 0, [(0, 10)], transaction_id=5), RULES,
     {1: TX}, "not the running transaction"),
    ("TxProfile on a station that rejects them", 1, ocpp(1, TXP, 0, [(0, 10)]),
     sc.ProfileRules(connectors=2, tx_profile_supported=False), {1: TX}, "does not support"),
    ("transactionId in a TxDefaultProfile", 1, ocpp(1, DEFAULT, 0, [(0, 10)], transaction_id=77),
     RULES, {1: TX}, "only allowed in a TxProfile"),
    ("unknown connector", 3, ocpp(1, DEFAULT, 0, [(0, 10)]), RULES, {}, "does not exist"),
    ("first period not at 0", 1, ocpp(1, DEFAULT, 0, [(60, 10)]), RULES, {}, "start at 0"),
    ("periods not ascending", 1, ocpp(1, DEFAULT, 0, [(0, 10), (60, 8), (60, 6)]), RULES, {},
     "ascending"),
    ("negative limit", 1, ocpp(1, DEFAULT, 0, [(0, -1)]), RULES, {}, "negative"),
    ("recurring without recurrencyKind", 0, ocpp(1, CPMAX, 0, [(0, 10)], kind="Recurring"), RULES,
     {}, "recurrencyKind"),
    ("validTo before validFrom", 1, ocpp(1, DEFAULT, 0, [(0, 10)], valid_from=T0 + 10,
                                          valid_to=T0), RULES, {}, "validTo"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("connector", "data", "rules", "transactions", "reason"),
    [case[1:] for case in REJECT_CASES],
    ids=[case[0] for case in REJECT_CASES],
)
def test_rejected_profiles(connector, data, rules, transactions, reason) -> None:
    before = installed((1, ocpp(99, DEFAULT, 0, [(0, 16)])))
    decision = sc.install(before, sc.parse_profile(connector, data, T0), rules, transactions)
    assert not decision.accepted
    assert decision.status == "Rejected"
    assert reason in decision.reason
    assert decision.profiles == before


@pytest.mark.parametrize(
    "data",
    [
        {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "Nope"},
        {**ocpp(1, DEFAULT, 0, [(0, 10)]), "chargingSchedule": {"chargingRateUnit": "A"}},
        {**ocpp(1, DEFAULT, 0, [(0, 10)]), "validFrom": "yesterday"},
    ],
    ids=["unknown purpose", "no periods", "bad date"],
)
def test_malformed_profiles_raise(data) -> None:
    with pytest.raises(sc.ProfileError):
        sc.parse_profile(1, data)


def test_max_profiles_installed_counts_new_profiles_not_replacements() -> None:
    rules = sc.ProfileRules(connectors=2, max_installed=2)
    profiles: tuple[sc.ChargingProfile, ...] = ()
    for pid, stack in ((1, 0), (2, 1)):
        profiles = sc.install(
            profiles, sc.parse_profile(1, ocpp(pid, DEFAULT, stack, [(0, 10)])), rules, {}
        ).profiles
    third = sc.install(profiles, sc.parse_profile(1, ocpp(3, DEFAULT, 2, [(0, 10)])), rules, {})
    assert not third.accepted and "MaxChargingProfilesInstalled" in third.reason
    again = sc.install(profiles, sc.parse_profile(1, ocpp(2, DEFAULT, 1, [(0, 7)])), rules, {})
    assert again.accepted and again.reason == "replaced"


def test_same_id_replaces_even_on_another_connector() -> None:
    profiles = installed((1, ocpp(5, DEFAULT, 0, [(0, 10)])), (2, ocpp(5, DEFAULT, 3, [(0, 12)])))
    assert [(p.id, p.connector_id, p.stack_level) for p in profiles] == [(5, 2, 3)]


def test_same_purpose_and_stack_level_on_a_connector_replaces() -> None:
    profiles = installed((1, ocpp(5, DEFAULT, 2, [(0, 10)])), (1, ocpp(6, DEFAULT, 2, [(0, 12)])))
    assert [p.id for p in profiles] == [6]
    # …but not on another connector or with another purpose
    profiles = installed((1, ocpp(5, DEFAULT, 2, [(0, 10)])), (2, ocpp(6, DEFAULT, 2, [(0, 12)])),
                         (1, ocpp(7, TXP, 2, [(0, 8)])))  # fmt: skip
    assert sorted(p.id for p in profiles) == [5, 6, 7]


def test_clear_charging_profile() -> None:
    profiles = installed(
        (0, ocpp(1, CPMAX, 0, [(0, 20)])),
        (0, ocpp(2, DEFAULT, 1, [(0, 16)])),
        (1, ocpp(3, DEFAULT, 1, [(0, 10)])),
        (1, ocpp(4, TXP, 2, [(0, 8)])),
    )
    ids = lambda ps: sorted(p.id for p in ps)  # noqa: E731
    kept, removed = sc.clear(profiles, profile_id=3, purpose=CPMAX)  # id wins over criteria
    assert (ids(kept), removed) == ([1, 2, 4], 1)
    kept, removed = sc.clear(profiles, connector_id=1)
    assert (ids(kept), removed) == ([1, 2], 2)
    kept, removed = sc.clear(profiles, purpose=DEFAULT, stack_level=1)
    assert (ids(kept), removed) == ([1, 4], 2)
    kept, removed = sc.clear(profiles, profile_id=42)
    assert removed == 0 and kept == profiles
    assert sc.clear(profiles) == ((), 4)


def test_composite_schedule_merges_purposes_stack_levels_and_local_limit() -> None:
    profiles = installed(
        (0, ocpp(1, CPMAX, 0, [(0, 20), (1800, 12)])),
        (0, ocpp(2, DEFAULT, 0, [(0, 16)])),
        (1, ocpp(3, TXP, 1, [(0, 32), (600, 10)], kind="Relative", duration=1200)),
    )
    # Window starts at the transaction start (T0 + 600); TxProfile relative to it.
    schedule = sc.composite_schedule(
        profiles, 1, TX.started_at, 3600, tx=TX, local_limit_a=25, rate_unit="A"
    )
    assert schedule.start == int(TX.started_at)
    assert [(p.start_period, p.limit) for p in schedule.periods] == [
        (0, 20.0),  # TxProfile 32 A capped by ChargePointMax 20 A
        (600, 10.0),  # TxProfile's second period
        (1200, 12.0),  # TxProfile ended (duration): TxDefault 16, ChargePointMax now 12
    ]
    station = sc.composite_schedule(profiles, 0, T0, 3600, tx=None, local_limit_a=32)
    assert [(p.start_period, p.limit) for p in station.periods] == [(0, 20.0), (1800, 12.0)]


def test_composite_schedule_without_profiles_reports_the_local_limit() -> None:
    schedule = sc.composite_schedule((), 2, T0 + 0.5, 600, tx=None, local_limit_a=16)
    assert schedule.to_ocpp() == {
        "duration": 600,
        "startSchedule": "2023-11-14T00:00:00Z",
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
    }


def test_composite_schedule_in_watts_and_window_edges() -> None:
    profiles = installed((1, ocpp(1, DEFAULT, 0, [(0, 10, 1)], valid_from=T0 + 100,
                                  valid_to=T0 + 200)))  # fmt: skip
    schedule = sc.composite_schedule(profiles, 1, T0, 300, tx=None, local_limit_a=16, rate_unit="W")
    assert [(p.start_period, p.limit, p.number_phases) for p in schedule.periods] == [
        (0, 11040.0, None),
        (100, 2300.0, 1),
        (200, 11040.0, None),
    ]


def test_composite_schedule_daily_recurrence_over_two_days() -> None:
    profiles = installed(
        (0, ocpp(9, CPMAX, 0, [(0, 25), (18 * 3600, 10)], kind="Recurring", recurrency="Daily"))
    )
    schedule = sc.composite_schedule(
        profiles, 0, T0 + 12 * 3600, 2 * 86400, tx=None, local_limit_a=32
    )
    assert [(p.start_period, p.limit) for p in schedule.periods] == [
        (0, 25.0),
        (6 * 3600, 10.0),
        (12 * 3600, 25.0),
        (30 * 3600, 10.0),
        (36 * 3600, 25.0),
    ]


# -- a watt-only station, −1 in a foreign unit, a station that does not apply -------------------

WATT_ONLY = sc.ProfileRules(connectors=2, allowed_units=frozenset({"W"}))


@pytest.mark.parametrize(
    ("name", "unit", "accepted"),
    [("amps refused", "A", False), ("watts accepted", "W", True)],
)
def test_watt_only_station_takes_profiles_in_watts_only(name, unit, accepted) -> None:
    limit = 6900 if unit == "W" else 10
    profile = sc.parse_profile(1, ocpp(1, DEFAULT, 0, [(0, limit)], unit=unit))
    decision = sc.install((), profile, WATT_ONLY, {})
    assert decision.accepted == accepted, name
    if accepted:
        applied = sc.connector_limit(decision.profiles, 1, T0 + 1, None)
        assert applied is not None and applied.amps == 10.0
    else:
        assert decision.reason == "chargingRateUnit A is not allowed"


@pytest.mark.parametrize(
    ("rules", "own"),
    [(RULES, "A"), (WATT_ONLY, "W"), (sc.ProfileRules(allowed_units=frozenset({"A", "W"})), "A")],
)
def test_a_composite_without_unit_comes_in_the_stations_own(rules, own) -> None:
    assert rules.own_unit == own


def test_composite_in_a_unit_the_station_does_not_use_is_minus_one() -> None:
    schedule = sc.unknown_schedule(T0 + 0.7, 60, "A")
    assert schedule.to_ocpp() == {
        "duration": 60,
        "startSchedule": "2023-11-14T00:00:00Z",
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": -1.0}],
    }


def test_a_station_that_does_not_apply_profiles_accepts_and_keeps_none() -> None:
    rules = sc.ProfileRules(connectors=2, applies_profiles=False)
    profile = sc.parse_profile(1, ocpp(1, DEFAULT, 0, [(0, 10)]))
    decision = sc.install((), profile, rules, {})
    assert (decision.status, decision.profiles, decision.reason) == (
        "Accepted",
        (),
        "accepted, not applied",
    )
    # Invalid profiles are still rejected.
    bad = sc.parse_profile(1, ocpp(1, DEFAULT, 99, [(0, 10)]))
    assert sc.install((), bad, rules, {}).status == "Rejected"
