"""Table tests of the dispatcher's pure decision logic (csms.charging.book)."""

from __future__ import annotations

import pytest

from csms.charging.book import (
    DECREASE,
    DEFAULT,
    INCREASE,
    RENEW,
    VERIFY,
    BookSettings,
    Command,
    DeliveryBook,
    Target,
)
from csms.charging.profiles import ProfileCapabilities

NOW = 1_700_000_000.0
CAPS = ProfileCapabilities(max_stack_level=5, max_periods=10)
SETTINGS = BookSettings(deadband_a=1.0, validity_s=60, renew_before_s=30, backoff_s=2)


def everyone(_station_id: str) -> bool:
    return True


def book_with(*stations: str, safe: float = 6.0) -> DeliveryBook:
    book = DeliveryBook(SETTINGS)
    for station_id in stations:
        book.configure_station(station_id, caps=CAPS, safe_limit_a=safe)
    return book


def settle(book: DeliveryBook, now: float = NOW, answer=lambda c: "Accepted") -> list[Command]:
    """Run commands until none is left, answering each; return them in order."""
    sent: list[Command] = []
    for _ in range(100):
        batch = book.next_commands(now, everyone)
        if not batch:
            return sent
        for command in batch:
            sent.append(command)
            response = {"status": "Accepted", "chargingSchedule": {
                "chargingRateUnit": "A", "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": command_limit(book, command)}]}}  # fmt: skip
            book.on_result(command, answer(command), now, response)
    raise AssertionError("commands never settled")


def command_limit(book: DeliveryBook, command: Command) -> float:
    return book.effective_a(command.station_id, command.connector_id, NOW)


def sets(commands: list[Command]) -> list[tuple[str, int, str, float | None]]:
    return [
        (c.station_id, c.connector_id, c.kind, c.limit_a)
        for c in commands
        if c.action == "SetChargingProfile"
    ]


def test_first_contact_installs_safe_default_then_tx_profile_then_verifies():
    book = book_with("A")
    book.set_targets([Target("A", 1, 16.0, "grid", 42)])
    sent = settle(book)
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
    assert book.effective_a("A", 1, NOW) == 16.0
    assert book.stations["A"].method == "TxProfile"
    assert book.stations["A"].connectors[1].composite_a == 16.0


def test_one_command_in_flight_per_station():
    book = book_with("A", "B")
    book.set_targets([Target("A", 1, 16, "g", 1), Target("A", 2, 16, "g", 2)])
    first = book.next_commands(NOW, everyone)
    assert [(c.station_id, c.kind) for c in first] == [("A", DEFAULT), ("B", DEFAULT)]
    assert book.next_commands(NOW, everyone) == []  # both busy
    book.on_result(first[0], "Accepted", NOW)
    assert [(c.station_id, c.kind) for c in book.next_commands(NOW, everyone)] == [("A", INCREASE)]
    assert book.next_commands(NOW, everyone) == []  # A's second connector waits its turn


def test_offline_stations_get_nothing():
    book = book_with("A")
    book.set_targets([Target("A", 1, 16, "g", 1)])
    assert book.next_commands(NOW, lambda s: False) == []


def test_all_decreases_across_the_site_go_before_any_increase():
    book = book_with("A", "B")
    book.set_targets([Target("A", 1, 16, "g", 1), Target("B", 1, 16, "g", 2)])
    settle(book)
    book.set_targets([Target("A", 1, 20, "g", 1), Target("B", 1, 8, "g", 2)])
    first = book.next_commands(NOW, everyone)
    assert sets(first) == [("B", 1, DECREASE, 8.0)]  # A's increase is held back
    assert book.next_commands(NOW, everyone) == []  # still held while B's cut is in flight
    book.on_result(first[0], "Accepted", NOW)
    second = book.next_commands(NOW, everyone)
    assert ("A", 1, INCREASE, 20.0) in sets(second)


def test_increase_waits_for_the_decrease_on_the_same_station():
    book = book_with("A")
    book.set_targets([Target("A", 1, 16, "g", 1), Target("A", 2, 16, "g", 2)])
    settle(book)
    book.set_targets([Target("A", 1, 20, "g", 1), Target("A", 2, 10, "g", 2)])
    kinds = [(c.connector_id, c.kind) for c in settle(book) if c.action == "SetChargingProfile"]
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
    book = book_with("A")
    book.set_targets([Target("A", 1, 16, "g", 1)])
    settle(book)
    book.set_targets([Target("A", 1, new_limit, "g", 1, urgent=urgent)])
    assert [c.kind for c in settle(book) if c.action == "SetChargingProfile"] == expected, name


@pytest.mark.parametrize("status", ["Rejected", "Timeout", "Offline", "InternalError"])
def test_accepted_value_cached_only_on_accepted_and_retried_with_backoff(status):
    book = book_with("A")
    book.configure_station("A", caps=CAPS, safe_limit_a=6, method="TxProfile")
    book.set_targets([Target("A", 1, 6, "g", 1)])
    settle(book)
    book.set_targets([Target("A", 1, 16, "g", 1)])
    attempts = []
    for at in (NOW, NOW + 1, NOW + 2, NOW + 3, NOW + 6, NOW + 10):
        for command in book.next_commands(at, everyone):
            attempts.append(at)
            book.on_result(command, status, at)
    assert attempts == [NOW, NOW + 2, NOW + 6]  # backoff 2 s, then 4 s
    assert book.effective_a("A", 1, NOW + 10) == 6.0  # never cached
    assert book.stations["A"].slots[(1, "TxProfile")].last_status == status
    [command] = book.next_commands(NOW + 14, everyone)
    book.on_result(command, "Accepted", NOW + 14)
    assert book.effective_a("A", 1, NOW + 14) == 16.0


def test_station_that_rejects_tx_profile_falls_back_to_connector_default():
    book = book_with("A")
    book.set_targets([Target("A", 1, 10, "g", 7)])
    sent = settle(
        book,
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
    assert book.stations["A"].method == "TxDefaultProfile"
    assert book.effective_a("A", 1, NOW) == 10.0
    # The session ends: the connector-level default must not carry 10 A into the next session.
    book.set_targets([])
    [clear] = settle(book)
    assert (clear.action, clear.payload) == ("ClearChargingProfile", {"id": 2001})


def test_proven_tx_profile_station_does_not_fall_back_on_one_rejection():
    book = book_with("A")
    book.configure_station("A", caps=CAPS, safe_limit_a=6, method="TxProfile")
    book.set_targets([Target("A", 1, 10, "g", 7)])
    [default] = book.next_commands(NOW, everyone)
    book.on_result(default, "Accepted", NOW)
    [tx] = book.next_commands(NOW, everyone)
    book.on_result(tx, "Rejected", NOW)
    assert book.stations["A"].tx_purpose == "TxProfile"
    assert book.next_commands(NOW, everyone) == []  # backing off


def test_tx_profiles_are_renewed_before_validity_ends():
    book = book_with("A")
    book.set_targets([Target("A", 1, 16, "g", 1)])
    settle(book)
    assert settle(book, NOW + 29) == []
    renewed = settle(book, NOW + 31)
    assert [c.kind for c in renewed if c.action == "SetChargingProfile"] == [RENEW]
    valid_to = renewed[0].payload["csChargingProfiles"]["validTo"]
    assert valid_to.endswith("Z")


def test_expired_profile_counts_as_safe_default():
    book = book_with("A")
    book.set_targets([Target("A", 1, 16, "g", 1)])
    settle(book)
    assert book.effective_a("A", 1, NOW + 61) == 6.0


def test_new_transaction_needs_a_new_tx_profile():
    book = book_with("A")
    book.set_targets([Target("A", 1, 16, "g", 1)])
    settle(book)
    book.transaction_ended("A", 1)
    book.set_targets([Target("A", 1, 16, "g", 2)])
    [tx] = [c for c in settle(book) if c.action == "SetChargingProfile"]
    assert tx.payload["csChargingProfiles"]["transactionId"] == 2


def test_reconnect_resends_everything():
    book = book_with("A")
    book.set_targets([Target("A", 1, 16, "g", 1)])
    settle(book)
    book.forget_station("A")
    assert [c.kind for c in settle(book) if c.action == "SetChargingProfile"] == [
        DEFAULT,
        INCREASE,
    ]


def test_charge_point_max_only_where_configured_and_cleared_when_removed():
    book = book_with("A")
    assert [c.kind for c in settle(book)] == [DEFAULT]
    book.set_station_cap("A", 20)
    [cap] = settle(book)
    assert cap.payload["csChargingProfiles"]["chargingProfilePurpose"] == "ChargePointMaxProfile"
    assert cap.payload["connectorId"] == 0
    assert settle(book) == []  # not rewritten (flash wear)
    book.set_station_cap("A", None)
    [clear] = settle(book)
    assert (clear.action, clear.payload) == ("ClearChargingProfile", {"id": 1000})


def test_safe_default_resent_when_it_changes():
    book = book_with("A")
    settle(book)
    book.configure_station("A", safe_limit_a=3.05)
    [default] = settle(book)
    assert default.payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 3.0}
    ]


def test_safe_default_moving_between_stations_lowers_before_it_raises():
    # The safe current moves from A to B: if B's raise landed first and we then went silent,
    # both stations' TxDefaultProfiles together would exceed the site's safe current.
    book = DeliveryBook(SETTINGS)
    book.configure_station("A", caps=CAPS, safe_limit_a=6)
    book.configure_station("B", caps=CAPS, safe_limit_a=0)
    settle(book)
    book.configure_station("A", safe_limit_a=0)
    book.configure_station("B", safe_limit_a=6)
    first = book.next_commands(NOW, everyone)
    assert sets(first) == [("A", 0, DECREASE, 0.0)]  # B's raise is held back
    assert book.next_commands(NOW, everyone) == []  # still held while A's cut is in flight
    book.on_result(first[0], "Accepted", NOW)
    assert sets(book.next_commands(NOW, everyone)) == [("B", 0, INCREASE, 6.0)]


def test_partial_pick_sees_changed_stations_and_released_increases():
    book = book_with("A", "B", "C")
    book.set_targets([Target(s, 1, 16, "g", n) for n, s in enumerate("ABC")])
    settle(book)
    book.set_targets(
        [Target("A", 1, 8, "g", 0), Target("B", 1, 20, "g", 1), Target("C", 1, 16, "g", 2)]
    )
    first = book.next_commands(NOW, everyone, full=False)
    assert sets(first) == [("A", 1, DECREASE, 8.0)]  # B held, C unchanged and not examined
    book.on_result(first[0], "Accepted", NOW)
    second = book.next_commands(NOW, everyone, full=False)
    assert [(c.station_id, c.kind) for c in second] == [("A", VERIFY), ("B", INCREASE)]
