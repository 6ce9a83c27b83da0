"""Modbus control prerequisites judged from a snapshot (pure)."""

from __future__ import annotations

from csms.config.modbus_ready import blocking_reason, modbus_missing, offered_changes

READY = {
    "UnlockedFeatures": "0x00000006",
    "Active-LoadBalancing": "On",
    "MbsSlaveTCPIP": "On",
    "MbsSlaveTCPIPMode": "Socket",
}


def test_a_ready_station_has_nothing_missing() -> None:
    assert modbus_missing(READY) == []
    assert blocking_reason(READY) is None
    assert offered_changes(READY) == {}


def test_writing_not_allowed_names_the_key_and_offers_the_change() -> None:
    values = READY | {"MbsSlaveTCPIPMode": "Off"}
    reason = blocking_reason(values)
    assert reason is not None and "set MbsSlaveTCPIPMode to Socket (now Off)" in reason
    assert offered_changes(values) == {"MbsSlaveTCPIPMode": "Socket"}


def test_the_licence_is_named_but_not_offered_as_a_key_change() -> None:
    values = READY | {"UnlockedFeatures": "0x00000002"}  # SLB only
    missing = modbus_missing(values)
    assert [m.key for m in missing] == ["FeatureLicenseKey"]
    assert offered_changes(values) == {}
    assert "licence" in (blocking_reason(values) or "")


def test_no_snapshot_yet_waits() -> None:
    assert blocking_reason(None) == "waiting for the station's configuration snapshot"
