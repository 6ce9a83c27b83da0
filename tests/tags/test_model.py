"""The pure tag decisions: Authorize's idTagInfo and the local-list update to send."""

from __future__ import annotations

import pytest

from csms.tags.model import REMOVED, Tag, id_tag_info, plan_update

NOW = 1_700_000_000.0
PARENT_OK = Tag("FLEET", "Accepted")
PARENT_BLOCKED = Tag("FLEET", "Blocked")
PARENT_EXPIRED = Tag("FLEET", "Accepted", expiry_at=NOW - 1)

CASES = [
    ("unknown, allow-list", None, None, False, "Invalid"),
    ("unknown, accept-all", None, None, True, "Accepted"),
    ("removed, allow-list", Tag("A", REMOVED), None, False, "Invalid"),
    ("accepted", Tag("A", "Accepted"), None, False, "Accepted"),
    ("blocked under accept-all stays blocked", Tag("A", "Blocked"), None, True, "Blocked"),
    ("expired by status", Tag("A", "Expired"), None, False, "Expired"),
    ("expired by date", Tag("A", "Accepted", expiry_at=NOW), None, False, "Expired"),
    ("not yet expired", Tag("A", "Accepted", expiry_at=NOW + 1), None, False, "Accepted"),
    (
        "child of accepted parent",
        Tag("A", "Accepted", parent_id_tag="FLEET"),
        PARENT_OK,
        False,
        "Accepted",
    ),
    (
        "child of blocked parent",
        Tag("A", "Accepted", parent_id_tag="FLEET"),
        PARENT_BLOCKED,
        False,
        "Blocked",
    ),
    (
        "child of expired parent",
        Tag("A", "Accepted", parent_id_tag="FLEET"),
        PARENT_EXPIRED,
        False,
        "Expired",
    ),
    (
        "blocked child of accepted parent",
        Tag("A", "Blocked", parent_id_tag="FLEET"),
        PARENT_OK,
        False,
        "Blocked",
    ),
    ("restricted to this station", Tag("A", "Accepted", station_id="S1"), None, False, "Accepted"),
    ("restricted to another station", Tag("A", "Accepted", station_id="S2"), None, True, "Invalid"),
]


@pytest.mark.parametrize(
    ("tag", "parent", "accept_unknown", "status"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_id_tag_info(
    tag: Tag | None, parent: Tag | None, accept_unknown: bool, status: str
) -> None:
    info = id_tag_info(tag, parent, "S1", NOW, accept_unknown=accept_unknown)
    assert info.status == status


def test_id_tag_info_carries_expiry_and_parent() -> None:
    tag = Tag("A", "Accepted", expiry_at=NOW + 3600, parent_id_tag="FLEET")
    ocpp = id_tag_info(tag, PARENT_OK, "S1", NOW, accept_unknown=False).to_ocpp()
    assert ocpp == {
        "status": "Accepted",
        "expiryDate": "2023-11-14T23:13:20Z",
        "parentIdTag": "FLEET",
    }


TAGS = [
    Tag("A", "Accepted", version=1),
    Tag("B", "Blocked", version=2),
    Tag("C", "Accepted", station_id="S2", version=3),
    Tag("D", REMOVED, version=4),
]


def test_in_step_sends_nothing() -> None:
    assert plan_update(TAGS, "S1", 4, station_version=4, sent_version=4, now=NOW) is None


def test_full_after_mismatch_leaves_out_removed_and_other_stations_tags() -> None:
    update = plan_update(TAGS, "S1", 4, station_version=7, sent_version=2, now=NOW)
    assert update is not None and update.update_type == "Full" and update.version == 4
    assert [e["idTag"] for e in update.entries] == ["A", "B"]
    assert update.entries[1]["idTagInfo"] == {"status": "Blocked"}


def test_first_sync_is_full() -> None:
    update = plan_update(TAGS, "S1", 4, station_version=0, sent_version=None, now=NOW)
    assert update is not None and update.update_type == "Full"


def test_differential_sends_changes_since_and_removals() -> None:
    update = plan_update(TAGS, "S1", 4, station_version=2, sent_version=2, now=NOW)
    assert update is not None and update.update_type == "Differential"
    # C belongs to another station and D was removed: both leave this station's list.
    assert update.payload() == {
        "listVersion": 4,
        "updateType": "Differential",
        "localAuthorizationList": [{"idTag": "C"}, {"idTag": "D"}],
    }
