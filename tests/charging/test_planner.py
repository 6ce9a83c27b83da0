"""Table tests of the dispatcher's pure decision logic (csms.charging.planner)."""

from __future__ import annotations

import pytest

from csms.charging.planner import (
    DECREASE,
    DEFAULT,
    INCREASE,
    RENEW,
    VERIFY,
    Command,
    DeliveryPlanner,
    PlannerSettings,
    Target,
)
from csms.charging.profiles import ProfileCapabilities

NOW = 1_700_000_000.0
CAPS = ProfileCapabilities(max_stack_level=5, max_periods=10)
SETTINGS = PlannerSettings(deadband_a=1.0, validity_s=60, renew_before_s=30, backoff_s=2)


def everyone(_station_id: str) -> bool:
    return True


def book_with(*stations: str, safe: float = 6.0) -> DeliveryPlanner:
    planner = DeliveryPlanner(SETTINGS)
    for station_id in stations:
        planner.configure_station(station_id, caps=CAPS, safe_limit_a=safe)
    return planner


def settle(
    planner: DeliveryPlanner, now: float = NOW, answer=lambda c: "Accepted"
) -> list[Command]:
    """Run commands until none is left, answering each; return them in order."""
    sent: list[Command] = []
    for _ in range(100):
        batch = planner.next_commands(now, everyone)
        if not batch:
            return sent
        for command in batch:
            sent.append(command)
            response = {"status": "Accepted", "chargingSchedule": {
                "chargingRateUnit": "A", "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": command_limit(planner, command)}]}}  # fmt: skip
            planner.on_result(command, answer(command), now, response)
    raise AssertionError("commands never settled")


def command_limit(planner: DeliveryPlanner, command: Command) -> float:
    return planner.effective_a(command.station_id, command.connector_id, NOW)


def sets(commands: list[Command]) -> list[tuple[str, int, str, float | None]]:
    return [
        (c.station_id, c.connector_id, c.kind, c.limit_a)
        for c in commands
        if c.action == "SetChargingProfile"
    ]


def test_first_contact_installs_safe_default_then_tx_profile_then_verifies():
    planner = book_with("A")
    planner.set_targets([Target("A", 1, 16.0, "grid", 42)])
    sent = settle(planner)
    assert [(c.action, c.kind) for c in sent] == [
        ("SetChargingProfile", DEFAULT),
        ("SetChargingProfile", INCREASE),
        ("GetCompositeSchedule", VERIFY),
    ]
    tx = sent[1].payload["csChargingProfiles"]
    assert (tx["chargingProfilePurpose"], tx["transactionId"], tx["stackLevel"]) == (
        "TxProfile",
        42,
        5,
    )
    assert planner.effective_a("A", 1, NOW) == 16.0
    assert planner.stations["A"].method == "TxProfile"
    assert planner.stations["A"].connectors[1].composite_a == 16.0


def test_one_command_in_flight_per_station():
    planner = book_with("A", "B")
    planner.set_targets([Target("A", 1, 16, "g", 1), Target("A", 2, 16, "g", 2)])
    first = planner.next_commands(NOW, everyone)
    assert [(c.station_id, c.kind) for c in first] == [("A", DEFAULT), ("B", DEFAULT)]
    assert planner.next_commands(NOW, everyone) == []  # both busy
    planner.on_result(first[0], "Accepted", NOW)
    assert [(c.station_id, c.kind) for c in planner.next_commands(NOW, everyone)] == [
        ("A", INCREASE)
    ]
    assert planner.next_commands(NOW, everyone) == []  # A's second connector waits its turn


def test_offline_stations_get_nothing():
    planner = book_with("A")
    planner.set_targets([Target("A", 1, 16, "g", 1)])
    assert planner.next_commands(NOW, lambda s: False) == []


def test_all_decreases_across_the_site_go_before_any_increase():
    planner = book_with("A", "B")
    planner.set_targets([Target("A", 1, 16, "g", 1), Target("B", 1, 16, "g", 2)])
    settle(planner)
    planner.set_targets([Target("A", 1, 20, "g", 1), Target("B", 1, 8, "g", 2)])
    first = planner.next_commands(NOW, everyone)
    assert sets(first) == [("B", 1, DECREASE, 8.0)]  # A's increase is held back
    assert planner.next_commands(NOW, everyone) == []  # still held while B's cut is in flight
    planner.on_result(first[0], "Accepted", NOW)
    second = planner.next_commands(NOW, everyone)
    assert ("A", 1, INCREASE, 20.0) in sets(second)


def test_increase_waits_for_the_decrease_on_the_same_station():
    planner = book_with("A")
    planner.set_targets([Target("A", 1, 16, "g", 1), Target("A", 2, 16, "g", 2)])
    settle(planner)
    planner.set_targets([Target("A", 1, 20, "g", 1), Target("A", 2, 10, "g", 2)])
    kinds = [(c.connector_id, c.kind) for c in settle(planner) if c.action == "SetChargingProfile"]
    assert kinds == [(2, DECREASE), (1, INCREASE)]


@pytest.mark.parametrize(
    ("name", "new_limit", "urgent", "expected"),
    [
        ("small increase skipped", 16.5, False, []),
        ("increase at the deadband sent", 17.0, False, [INCREASE]),
        ("small decrease skipped", 15.5, False, []),
        ("small urgent decrease sent", 15.5, True, [DECREASE]),
        ("big decrease sent", 10.0, False, [DECREASE]),
        ("noise below 0.1 A is nothing", 16.04, True, []),
    ],
)
def test_deadband(name, new_limit, urgent, expected):
    planner = book_with("A")
    planner.set_targets([Target("A", 1, 16, "g", 1)])
    settle(planner)
    planner.set_targets([Target("A", 1, new_limit, "g", 1, urgent=urgent)])
    assert [c.kind for c in settle(planner) if c.action == "SetChargingProfile"] == expected, name


@pytest.mark.parametrize("status", ["Rejected", "Timeout", "Offline", "InternalError"])
def test_accepted_value_cached_only_on_accepted_and_retried_with_backoff(status):
    planner = book_with("A")
    planner.configure_station("A", caps=CAPS, safe_limit_a=6, method="TxProfile")
    planner.set_targets([Target("A", 1, 6, "g", 1)])
    settle(planner)
    planner.set_targets([Target("A", 1, 16, "g", 1)])
    attempts = []
    for at in (NOW, NOW + 1, NOW + 2, NOW + 3, NOW + 6, NOW + 10):
        for command in planner.next_commands(at, everyone):
            attempts.append(at)
            planner.on_result(command, status, at)
    assert attempts == [NOW, NOW + 2, NOW + 6]  # backoff 2 s, then 4 s
    assert planner.effective_a("A", 1, NOW + 10) == 6.0  # never cached
    assert planner.stations["A"].slots[(1, "TxProfile")].last_status == status
    [command] = planner.next_commands(NOW + 14, everyone)
    planner.on_result(command, "Accepted", NOW + 14)
    assert planner.effective_a("A", 1, NOW + 14) == 16.0


def test_station_that_rejects_tx_profile_falls_back_to_connector_default():
    planner = book_with("A")
    planner.set_targets([Target("A", 1, 10, "g", 7)])
    sent = settle(
        planner,
        answer=lambda c: (
            "Rejected"
            if c.payload.get("csChargingProfiles", {}).get("chargingProfilePurpose") == "TxProfile"
            else "Accepted"
        ),
    )
    purposes = [
        c.payload["csChargingProfiles"]["chargingProfilePurpose"]
        for c in sent
        if c.action == "SetChargingProfile"
    ]
    assert purposes == ["TxDefaultProfile", "TxProfile", "TxDefaultProfile"]
    fallback = sent[2].payload
    assert fallback["connectorId"] == 1
    assert fallback["csChargingProfiles"]["stackLevel"] == 5  # above the safe default at 4
    assert "validTo" in fallback["csChargingProfiles"]
    assert planner.stations["A"].method == "TxDefaultProfile"
    assert planner.effective_a("A", 1, NOW) == 10.0
    # The session ends: the connector-level default must not carry 10 A into the next session.
    planner.set_targets([])
    [clear] = settle(planner)
    assert (clear.action, clear.payload) == ("ClearChargingProfile", {"id": 2001})


def test_proven_tx_profile_station_does_not_fall_back_on_one_rejection():
    planner = book_with("A")
    planner.configure_station("A", caps=CAPS, safe_limit_a=6, method="TxProfile")
    planner.set_targets([Target("A", 1, 10, "g", 7)])
    [default] = planner.next_commands(NOW, everyone)
    planner.on_result(default, "Accepted", NOW)
    [tx] = planner.next_commands(NOW, everyone)
    planner.on_result(tx, "Rejected", NOW)
    assert planner.stations["A"].tx_purpose == "TxProfile"
    assert planner.next_commands(NOW, everyone) == []  # backing off


def test_tx_profiles_are_renewed_before_validity_ends():
    planner = book_with("A")
    planner.set_targets([Target("A", 1, 16, "g", 1)])
    settle(planner)
    assert settle(planner, NOW + 29) == []
    renewed = settle(planner, NOW + 31)
    assert [c.kind for c in renewed if c.action == "SetChargingProfile"] == [RENEW]
    valid_to = renewed[0].payload["csChargingProfiles"]["validTo"]
    assert valid_to.endswith("Z")


def test_expired_profile_counts_as_safe_default():
    planner = book_with("A")
    planner.set_targets([Target("A", 1, 16, "g", 1)])
    settle(planner)
    assert planner.effective_a("A", 1, NOW + 61) == 6.0


def test_new_transaction_needs_a_new_tx_profile():
    planner = book_with("A")
    planner.set_targets([Target("A", 1, 16, "g", 1)])
    settle(planner)
    planner.transaction_ended("A", 1)
    planner.set_targets([Target("A", 1, 16, "g", 2)])
    [tx] = [c for c in settle(planner) if c.action == "SetChargingProfile"]
    assert tx.payload["csChargingProfiles"]["transactionId"] == 2


def test_reconnect_resends_everything():
    planner = book_with("A")
    planner.set_targets([Target("A", 1, 16, "g", 1)])
    settle(planner)
    planner.forget_station("A")
    assert [c.kind for c in settle(planner) if c.action == "SetChargingProfile"] == [
        DEFAULT,
        INCREASE,
    ]


@pytest.mark.parametrize(
    ("safe", "target", "kind"),
    [
        (0.0, 0.0, DECREASE),  # the cluster's flake: paused, "already" at the safe 0 A
        (6.0, 6.0, DECREASE),  # on the safe default exactly
        (6.0, 6.5, INCREASE),  # within the deadband above it
        (6.0, 5.5, DECREASE),  # within the deadband below it
    ],
)
def test_a_session_whose_profile_is_unknown_gets_its_target_whatever_the_deadband(
    safe: float, target: float, kind: str
):
    """A fresh planner (a take-over: the node that led the site before sent this session a
    TxProfile of 7.7 A) or a reconnect (the station may have kept ours): the station's TxProfile
    is unknown, so believing it applies the safe default would leave the unseen 7.7 A in force.
    The target goes out even when it equals the safe default or is within the deadband of it."""
    planner = book_with("A", safe=safe)
    planner.set_targets([Target("A", 1, target, "grid phase", 7)])
    assert [c for c in sets(settle(planner)) if c[1] == 1] == [("A", 1, kind, target)]
    assert settle(planner) == []  # known now: nothing more until the target moves


def test_charge_point_max_only_where_configured_and_cleared_when_removed():
    planner = book_with("A")
    assert [c.kind for c in settle(planner)] == [DEFAULT]
    planner.set_station_cap("A", 20)
    [cap] = settle(planner)
    assert cap.payload["csChargingProfiles"]["chargingProfilePurpose"] == "ChargePointMaxProfile"
    assert cap.payload["connectorId"] == 0
    assert settle(planner) == []  # not rewritten (flash wear)
    planner.set_station_cap("A", None)
    [clear] = settle(planner)
    assert (clear.action, clear.payload) == ("ClearChargingProfile", {"id": 1000})


def test_safe_default_resent_when_it_changes():
    planner = book_with("A")
    settle(planner)
    planner.configure_station("A", safe_limit_a=3.05)
    [default] = settle(planner)
    assert default.payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 3.0}
    ]


def test_safe_default_moving_between_stations_lowers_before_it_raises():
    # The safe current moves from A to B: if B's raise landed first and we then went silent,
    # both stations' TxDefaultProfiles together would exceed the site's safe current.
    planner = DeliveryPlanner(SETTINGS)
    planner.configure_station("A", caps=CAPS, safe_limit_a=6)
    planner.configure_station("B", caps=CAPS, safe_limit_a=0)
    settle(planner)
    planner.configure_station("A", safe_limit_a=0)
    planner.configure_station("B", safe_limit_a=6)
    first = planner.next_commands(NOW, everyone)
    assert sets(first) == [("A", 0, DECREASE, 0.0)]  # B's raise is held back
    assert planner.next_commands(NOW, everyone) == []  # still held while A's cut is in flight
    planner.on_result(first[0], "Accepted", NOW)
    assert sets(planner.next_commands(NOW, everyone)) == [("B", 0, INCREASE, 6.0)]


def test_partial_pick_sees_changed_stations_and_released_increases():
    planner = book_with("A", "B", "C")
    planner.set_targets([Target(s, 1, 16, "g", n) for n, s in enumerate("ABC")])
    settle(planner)
    planner.set_targets(
        [Target("A", 1, 8, "g", 0), Target("B", 1, 20, "g", 1), Target("C", 1, 16, "g", 2)]
    )
    first = planner.next_commands(NOW, everyone, full=False)
    assert sets(first) == [("A", 1, DECREASE, 8.0)]  # B held, C unchanged and not examined
    planner.on_result(first[0], "Accepted", NOW)
    second = planner.next_commands(NOW, everyone, full=False)
    assert [(c.station_id, c.kind) for c in second] == [("A", VERIFY), ("B", INCREASE)]


# -- verification: the composite schedule in the station's unit, Current.Offered --------------

WATTS = ProfileCapabilities(rate_unit="W", max_stack_level=5, max_periods=10)


def composite(unit: str, limit: float, **period: object) -> dict:
    return {
        "status": "Accepted",
        "chargingSchedule": {
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit, **period}],
        },
    }


def charging_book(caps: ProfileCapabilities = CAPS, **settings: object) -> DeliveryPlanner:
    """Station A with a 16 A TxProfile accepted on connector 1 and its verify in flight."""
    planner = DeliveryPlanner(PlannerSettings(**(SETTINGS_FIELDS | settings)))
    planner.configure_station("A", caps=caps, safe_limit_a=6.0, method="TxProfile")
    planner.set_targets([Target("A", 1, 16.0, "g", 1)])
    for _ in range(2):  # safe default, TxProfile
        [command] = planner.next_commands(NOW, everyone)
        planner.on_result(command, "Accepted", NOW)
    return planner


SETTINGS_FIELDS: dict[str, object] = {
    "deadband_a": 1.0,
    "validity_s": 60,
    "renew_before_s": 30,
    "backoff_s": 2,
    "max_resends": 2,
    "offered_grace_s": 10,
    "min_rewrite_s": 30,
}


def verify(planner: DeliveryPlanner, response: dict, at: float = NOW) -> Command:
    [command] = planner.next_commands(at, everyone)
    assert command.action == "GetCompositeSchedule"
    planner.on_result(command, str(response.get("status")), at, response)
    return command


@pytest.mark.parametrize(
    ("name", "caps", "response", "composite_a", "state"),
    [
        ("amps, agrees", CAPS, composite("A", 16.0), 16.0, "agrees"),
        ("watts, converted, agrees", WATTS, composite("W", 11040.0), 16.0, "agrees"),
        ("watts within the tolerance", WATTS, composite("W", 11000.0), 15.9, "agrees"),
        ("asked in A, answered in W", CAPS, composite("W", 11040.0), 16.0, "agrees"),
        ("-1 is unknown, not 0 A", WATTS, composite("A", -1), None, "unknown"),
        ("-1 in watts", WATTS, composite("W", -1), None, "unknown"),
        ("rejected", CAPS, {"status": "Rejected"}, None, "unknown"),
        ("no limit", CAPS, {"status": "Accepted", "chargingSchedule": {
            "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0}]}},
         None, "unknown"),
        ("applies more: re-sent", CAPS, composite("A", 32.0), 32.0, "mismatch, re-sent"),
        ("applies less: re-sent", WATTS, composite("W", 4000.0), 5.7, "mismatch, re-sent"),
    ],
)  # fmt: skip
def test_composite_is_read_in_amps_and_compared_with_what_was_accepted(
    name, caps, response, composite_a, state
):
    planner = charging_book(caps)
    command = verify(planner, response)
    assert command.payload["chargingRateUnit"] == caps.rate_unit, name  # its own unit
    view = planner.stations["A"].connectors[1]
    assert view.composite_a == composite_a, name
    assert view.composite_known == (composite_a is not None), name
    assert view.verification == state, name
    assert view.checked_a == (None if composite_a is None else 16.0), name


def test_minus_one_in_the_unit_we_asked_is_asked_again_without_a_unit():
    # A watt-only station whose capabilities were not read yet: asked in A, it says −1.
    planner = charging_book(CAPS)
    first = verify(planner, composite("A", -1))
    assert first.payload["chargingRateUnit"] == "A"
    view = planner.stations["A"].connectors[1]
    assert view.verification == "unknown"
    second = verify(planner, composite("W", 11040.0))
    assert "chargingRateUnit" not in second.payload
    assert (view.verification, view.composite_a, view.composite_unit) == ("agrees", 16.0, "W")
    # Only once: −1 again without a unit stays unknown, no third question.
    planner = charging_book(CAPS)
    verify(planner, composite("A", -1))
    verify(planner, composite("A", -1))
    assert planner.next_commands(NOW, everyone) == []
    assert planner.stations["A"].connectors[1].verification == "unknown"


def test_a_station_applying_more_gets_the_limit_again_at_once_and_bounded():
    planner = charging_book()  # max 2 re-sends, 30 s between rewrites
    resends = []
    for n in range(4):
        verify(planner, composite("A", 32.0), NOW + n)
        commands = planner.next_commands(NOW + n, everyone)
        if not commands:
            break
        [command] = commands
        # A decrease for safety: not held back by the flash bound, though just written.
        assert (command.action, command.kind, command.limit_a) == (
            "SetChargingProfile",
            DECREASE,
            16.0,
        )
        resends.append(command)
        planner.on_result(command, "Accepted", NOW + n)
    assert len(resends) == 2
    view = planner.stations["A"].connectors[1]
    assert view.verification == "station does not agree"
    assert view.mismatch == "composite 32 A, accepted 16 A"
    assert planner.next_commands(NOW + 20, everyone) == []  # no endless loop
    # It agrees at last (after the next regular change): the count starts again.
    planner.set_targets([Target("A", 1, 10.0, "g", 1, urgent=True)])
    [command] = planner.next_commands(NOW + 21, everyone)
    planner.on_result(command, "Accepted", NOW + 21)
    verify(planner, composite("A", 10.0), NOW + 21)
    assert (view.verification, view.mismatches) == ("agrees", 0)


def test_a_station_applying_less_gets_the_limit_again_within_the_flash_bound():
    planner = charging_book()
    verify(planner, composite("A", 8.0))
    assert planner.next_commands(NOW + 29, everyone) == []  # held: rewritten at NOW
    [command] = planner.next_commands(NOW + 30, everyone)
    assert (command.kind, command.limit_a) == (INCREASE, 16.0)


def test_new_session_starts_its_own_verification():
    planner = charging_book()
    verify(planner, composite("A", 32.0))
    planner.set_targets([Target("A", 1, 16.0, "g", 2)])
    view = planner.stations["A"].connectors[1]
    assert (view.verification, view.mismatches, view.resend) == ("not verified yet", 0, None)


@pytest.mark.parametrize(
    ("name", "samples", "state"),
    [
        ("at the limit", [(1, 16.0), (20, 16.0)], "agrees"),
        ("above within the grace", [(1, 32.0), (9, 32.0)], "agrees"),
        ("above beyond the grace", [(1, 32.0), (11, 32.0)], "mismatch, re-sent"),
        ("back below in between", [(1, 32.0), (5, 16.0), (12, 32.0)], "agrees"),
        ("below the limit (EV paused)", [(1, 0.0), (30, 0.0)], "agrees"),
        ("not a number: ignored", [(1, float("nan")), (30, float("inf"))], "agrees"),
    ],
)
def test_current_offered_above_the_limit_beyond_a_grace_is_a_mismatch(name, samples, state):
    planner = charging_book()
    verify(planner, composite("A", 16.0))
    for at, offered in samples:
        planner.note_offered("A", 1, offered, NOW + at)
    view = planner.stations["A"].connectors[1]
    assert view.verification == state, name
    if state != "agrees":
        assert view.mismatch == "offered 32 A above the accepted 16 A"
        [command] = planner.next_commands(NOW + 12, everyone)
        assert (command.kind, command.limit_a) == (DECREASE, 16.0)


# -- flash wear: a bound on rewrites per connector ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "new_limit", "urgent", "after_s", "expected"),
    [
        ("raise soon after a write: held", 20.0, False, 10, []),
        ("raise after the interval: sent", 20.0, False, 30, [INCREASE]),
        ("plain decrease soon after a write: held", 10.0, False, 10, []),
        ("urgent decrease soon after a write: sent", 10.0, True, 1, [DECREASE]),
        ("renewal is never held", 16.0, False, 31, [RENEW]),
    ],
)
def test_rewrites_of_a_connector_are_bounded_except_for_safety(
    name, new_limit, urgent, after_s, expected
):
    planner = charging_book()
    verify(planner, composite("A", 16.0))
    planner.set_targets([Target("A", 1, new_limit, "g", 1, urgent=urgent)])
    commands = planner.next_commands(NOW + after_s, everyone)
    assert [c.kind for c in commands if c.action == "SetChargingProfile"] == expected, name


def test_a_held_raise_goes_out_when_the_renewal_is_due_and_the_profile_never_lapses():
    planner = charging_book(min_rewrite_s=600)  # longer than the validity (60 s)
    verify(planner, composite("A", 16.0))
    planner.set_targets([Target("A", 1, 20.0, "g", 1)])
    assert planner.next_commands(NOW + 29, everyone) == []  # held
    [command] = planner.next_commands(NOW + 30, everyone)  # renewal due: the raise goes with it
    assert (command.kind, command.limit_a) == (INCREASE, 20.0)


@pytest.mark.parametrize(
    ("name", "new_limit", "urgent", "expected"),
    [
        ("raise within the deadband: the renewal takes it along", 16.6, False, (RENEW, 16.6)),
        ("cut within the deadband: the renewal keeps 16 A", 15.4, False, (RENEW, 16.0)),
        ("urgent cut within the deadband: sent as a cut", 15.4, True, (DECREASE, 15.4)),
        ("held raise beyond the deadband: goes with the renewal", 17.5, False, (INCREASE, 17.5)),
    ],
)
def test_a_renewal_takes_small_raises_along_but_no_small_cuts(name, new_limit, urgent, expected):
    # A renewal that took every small difference along moved the limit at each renewal with
    # the noise of the estimates: 11 A, then 10.4 A, then 11 A again (a raise taken back). A
    # small raise still goes along: a ramp ends on its target, not up to 1 A below it.
    planner = charging_book(min_rewrite_s=600)
    verify(planner, composite("A", 16.0))
    planner.set_targets([Target("A", 1, new_limit, "g", 1, urgent=urgent)])
    [command] = planner.next_commands(NOW + 30, everyone)  # the renewal is due
    assert (command.kind, command.limit_a) == expected, name
    limit = command.payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"]
    assert limit[0]["limit"] == expected[1], name


def test_first_limit_of_a_session_is_not_held_by_the_previous_sessions_write():
    planner = charging_book()
    verify(planner, composite("A", 16.0))
    planner.transaction_ended("A", 1)
    planner.set_targets([Target("A", 1, 20.0, "g", 2)])
    [command] = planner.next_commands(NOW + 1, everyone)
    assert (command.kind, command.transaction_id) == (INCREASE, 2)


def test_a_cut_held_by_the_flash_bound_goes_out_when_a_raise_waits_for_it():
    planner = charging_book()
    verify(planner, composite("A", 16.0))
    planner.configure_station("B", caps=CAPS, safe_limit_a=6.0, method="TxProfile")
    planner.set_targets([Target("A", 1, 10.0, "g", 1), Target("B", 1, 16.0, "g", 2)])
    first = planner.next_commands(NOW + 1, everyone)
    assert [(c.station_id, c.kind) for c in first] == [("B", DEFAULT)]
    planner.on_result(first[0], "Accepted", NOW + 1)
    # B's raise waits for A's cut, so the cut is not held any longer; then the raise.
    cut = planner.next_commands(NOW + 2, everyone, full=False)
    assert [(c.station_id, c.kind, c.limit_a) for c in cut] == [("A", DECREASE, 10.0)]
    planner.on_result(cut[0], "Accepted", NOW + 2)
    raised = planner.next_commands(NOW + 2, everyone, full=False)
    assert ("B", INCREASE) in [(c.station_id, c.kind) for c in raised]


def test_a_cut_held_by_the_flash_bound_alone_waits_for_the_interval():
    planner = charging_book()
    verify(planner, composite("A", 16.0))
    planner.set_targets([Target("A", 1, 10.0, "g", 1)])
    assert planner.next_commands(NOW + 29, everyone) == []
    [cut] = planner.next_commands(NOW + 30, everyone)
    assert (cut.kind, cut.limit_a) == (DECREASE, 10.0)


def test_a_held_decrease_of_a_station_gone_offline_holds_nothing_back():
    planner = charging_book()
    verify(planner, composite("A", 16.0))
    planner.configure_station("B", caps=CAPS, safe_limit_a=6.0, method="TxProfile")
    planner.set_targets([Target("A", 1, 10.0, "g", 1), Target("B", 1, 16.0, "g", 2)])
    [default] = planner.next_commands(NOW + 1, everyone)  # A's cut is held meanwhile
    assert default.station_id == "B"
    planner.on_result(default, "Accepted", NOW + 1)
    sent = planner.next_commands(NOW + 3, lambda s: s != "A")  # A went offline
    assert [(c.station_id, c.kind) for c in sent] == [("B", INCREASE)]


def test_profile_writes_are_counted_per_station():
    planner = charging_book()
    verify(planner, composite("A", 16.0))
    planner.set_targets([Target("A", 1, 10.0, "g", 1, urgent=True)])
    [command] = planner.next_commands(NOW, everyone)
    planner.on_result(command, "Rejected", NOW)
    [command] = planner.next_commands(NOW + 10, everyone)
    planner.on_result(command, "Offline", NOW + 10)  # never reached the station
    station = planner.stations["A"]
    assert (station.writes_sent, station.writes_accepted) == (3, 2)
