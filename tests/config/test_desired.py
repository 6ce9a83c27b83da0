"""Desired values and drift of configuration changes (pure): what a BootNotification answers as
its interval, and which verified changes a later snapshot contradicts."""

from __future__ import annotations

import pytest

from csms.config import changes as ch
from csms.config.desired import desired_value, drift, heartbeat_interval
from csms.config.repository import ChangeRecord


def change(
    change_id: int, key: str, value: str, state: str, finished_at: float | None = 100.0
) -> ChangeRecord:
    return ChangeRecord(
        id=change_id, station_id="A", key=key, value=value, forced=False,
        reboot_policy="when-idle", origin="api", state=state, status="Accepted",
        reported_value=None, detail=None, warnings=(), created_at=50.0, sent_at=60.0,
        finished_at=finished_at, updated_at=100.0,
    )  # fmt: skip


HB = "HeartbeatInterval"


@pytest.mark.parametrize(
    ("name", "changes", "snapshot", "expected"),
    [
        ("nothing known: the setting", [], None, 300),
        ("the latest snapshot's value", [], {HB: "120"}, 120),
        ("a verified change wins over the snapshot", [change(1, HB, "600", ch.VERIFIED)],
         {HB: "300"}, 600),
        ("the latest wanted change", [change(1, HB, "600", ch.VERIFIED),
                                      change(2, HB, "900", ch.QUEUED)], {HB: "300"}, 900),
        ("a drifted change is still wanted", [change(1, HB, "600", ch.DRIFTED)], {HB: "300"}, 600),
        ("a rejected change wants nothing", [change(1, HB, "600", ch.VERIFIED),
                                             change(2, HB, "5", ch.REJECTED)], None, 600),
        ("another key does not count", [change(1, "MeterValueSampleInterval", "60", ch.VERIFIED)],
         None, 300),
        ("a malformed snapshot value: the setting", [], {HB: "often"}, 300),
        ("zero is no interval", [], {HB: "0"}, 300),
    ],
)  # fmt: skip
def test_heartbeat_interval(name, changes, snapshot, expected):
    assert heartbeat_interval(changes, snapshot, 300) == expected, name


def test_desired_value_of_a_key_without_changes_is_none():
    assert desired_value([change(1, HB, "600", ch.FAILED)], HB) is None


@pytest.mark.parametrize(
    ("name", "changes", "values", "read_from", "expected"),
    [
        ("same value: nothing", [change(1, HB, "600", ch.VERIFIED)], {HB: "600"}, 200.0, []),
        ("another value: drifted", [change(1, HB, "600", ch.VERIFIED)], {HB: "300"}, 200.0,
         [(1, ch.DRIFTED, "300")]),
        ("the key vanished: drifted", [change(1, HB, "600", ch.VERIFIED)], {}, 200.0,
         [(1, ch.DRIFTED, None)]),
        ("back to the value: verified again", [change(1, HB, "600", ch.DRIFTED)], {HB: "600"},
         200.0, [(1, ch.VERIFIED, "600")]),
        ("still drifted: nothing new", [change(1, HB, "600", ch.DRIFTED)], {HB: "300"}, 200.0,
         []),
        ("a read begun before the change settled judges nothing",
         [change(1, HB, "600", ch.VERIFIED)], {HB: "300"}, 99.0, []),
        ("only the latest change of a key counts",
         [change(1, HB, "600", ch.VERIFIED), change(2, HB, "900", ch.VERIFIED)], {HB: "900"},
         200.0, []),
        ("a newer change still on its way: nothing",
         [change(1, HB, "600", ch.VERIFIED), change(2, HB, "900", ch.QUEUED, None)],
         {HB: "600"}, 200.0, []),
        ("changes not verified are not judged", [change(1, HB, "600", ch.NOT_VERIFIED)],
         {HB: "300"}, 200.0, []),
    ],
)  # fmt: skip
def test_drift(name, changes, values, read_from, expected):
    found = drift(changes, values, 7, read_from)
    assert [(d.change.id, d.state, d.reported) for d in found] == expected, name
    for d in found:
        assert "snapshot 7" in (d.detail or "")
