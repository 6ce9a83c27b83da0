"""The pure alert rules, table-tested."""

from __future__ import annotations

from csms.alerts.rules import (
    Alert,
    ConnectorState,
    FirmwareState,
    StationState,
    evaluate,
    transitions,
)

NOW = 10_000.0


def kinds(**kwargs: object) -> list[str]:
    args: dict[str, object] = {
        "stations": [],
        "connectors": [],
        "firmware": [],
        "safe_mode_sites": {},
        "offline_after_s": 300,
        "now": NOW,
    }
    args.update(kwargs)
    return [a.key for a in evaluate(**args)]  # type: ignore[arg-type]


def test_offline_only_past_the_setting() -> None:
    assert kinds(stations=[StationState("S1", False, NOW - 299)]) == []
    assert kinds(stations=[StationState("S1", False, NOW - 300)]) == ["station-offline:S1"]
    assert kinds(stations=[StationState("S1", True, NOW - 3000)]) == []
    # Never seen (registered, never connected): nothing to say yet.
    assert kinds(stations=[StationState("S1", False, None)]) == []


def test_faulted_connector_with_its_meaning() -> None:
    faulted = ConnectorState("S1", 0, "Faulted", "OtherError", "vendor error 210: lost", NOW)
    (alert,) = evaluate([], [faulted], [], {}, 300, NOW)
    assert alert.key == "connector-faulted:S1:0"
    assert alert.message == "S1 station Faulted: vendor error 210: lost"
    ok = ConnectorState("S1", 1, "Available", "NoError", "", NOW)
    assert kinds(connectors=[ok]) == []


def test_firmware_failed_and_safe_mode() -> None:
    assert kinds(firmware=[FirmwareState("S1", "InstallationFailed", NOW)]) == [
        "firmware-failed:S1"
    ]
    assert kinds(firmware=[FirmwareState("S1", "Installed", NOW)]) == []
    assert kinds(safe_mode_sites={"garage": NOW}) == ["site-safe-mode:garage"]


def test_transitions_once_per_change() -> None:
    a = Alert("k1", "station-offline", "m", 1.0)
    b = Alert("k2", "connector-faulted", "m", 1.0)
    first = transitions({}, [a])
    assert first.raised == (a,) and first.cleared == ()
    # Still active with a new message: no new transition.
    same = transitions({"k1": a}, [Alert("k1", "station-offline", "m2", 1.0)])
    assert same.raised == () and same.cleared == ()
    swap = transitions({"k1": a}, [b])
    assert swap.raised == (b,) and swap.cleared == (a,)
