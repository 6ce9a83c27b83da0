"""The configuration tables on both engines (SQLite and PostgreSQL), and the pure change rules."""

from __future__ import annotations

import pytest

from csms.config import changes as ch
from csms.config.catalog import lookup
from csms.config.license import outcome
from csms.config.repository import ConfigRepository, NewChange
from csms.config.snapshot import ConfigEntry
from csms.storage import Database


async def test_snapshots(db: Database) -> None:
    store = ConfigRepository(db)
    assert await store.latest_snapshot("A") is None
    first = await store.add_snapshot(
        "A", 100.0, "boot", [ConfigEntry("K1", "1", False), ConfigEntry("K2", None, True)], []
    )
    second = await store.add_snapshot("A", 200.0, "request", [ConfigEntry("K1", "2", False)], ["X"])
    await store.add_snapshot("B", 150.0, "boot", [ConfigEntry("K1", "9", False)], [])
    latest = await store.latest_snapshot("A")
    assert latest == second
    assert latest.values == {"K1": "2"} and latest.unknown_keys == ("X",)
    assert (await store.previous_snapshot("A", second.id)) == first
    assert first.entries[1] == ConfigEntry("K2", None, True)
    assert await store.snapshot("B", first.id) is None
    listed = await store.list_snapshots("A")
    assert [(r.id, r.reason, r.key_count) for r in listed] == [
        (second.id, "request", 1),
        (first.id, "boot", 2),
    ]
    assert {sid: s.values["K1"] for sid, s in (await store.latest_snapshots()).items()} == {
        "A": "2",
        "B": "9",
    }


async def test_an_unchanged_read_only_confirms_the_latest_snapshot(db: Database) -> None:
    store = ConfigRepository(db)
    entries = [ConfigEntry("K1", "1", False)]
    first = await store.add_snapshot("A", 100.0, "boot", entries, [])
    same = await store.add_snapshot("A", 160.0, "boot", entries, [])
    assert (same.id, same.taken_at, same.checked_at) == (first.id, 100.0, 160.0)
    changed = await store.add_snapshot("A", 220.0, "boot", [ConfigEntry("K1", "2", False)], [])
    assert changed.id != first.id and changed.checked_at == 220.0
    back = await store.add_snapshot("A", 280.0, "request", entries, [])  # a real change back
    assert back.id not in (first.id, changed.id)
    assert [r.checked_at for r in await store.list_snapshots("A")] == [280.0, 220.0, 160.0]


async def test_a_snapshot_is_returned_as_it_reads_back(db: Database) -> None:
    store = ConfigRepository(db)
    entries = [ConfigEntry("K1", "1", False), ConfigEntry("K2", None, True)]
    first = await store.add_snapshot("A", 100.0, "boot", entries, ["X"], previous=None)
    assert await store.latest_snapshot("A") == first
    same = await store.add_snapshot("A", 160.0, "request", entries, ["X"], previous=first)
    assert await store.latest_snapshot("A") == same
    assert (same.id, same.reason, same.taken_at) == (first.id, "boot", 100.0)
    assert same.checked_at == 160.0


async def test_a_confirmation_against_a_stale_latest_stores_a_new_snapshot(db: Database) -> None:
    # Another read stored a snapshot between the caller's read of the latest and its write.
    store = ConfigRepository(db)
    entries = [ConfigEntry("K1", "1", False)]
    first = await store.add_snapshot("A", 100.0, "boot", entries, [])
    other = await store.add_snapshot("A", 150.0, "request", [ConfigEntry("K1", "2", False)], [])
    again = await store.add_snapshot("A", 200.0, "boot", entries, [], previous=first)
    assert again.id not in (first.id, other.id)
    assert await store.latest_snapshot("A") == again
    assert [(r.id, r.checked_at) for r in await store.list_snapshots("A")] == [
        (again.id, 200.0),
        (other.id, 150.0),
        (first.id, 100.0),
    ]


async def test_changes_queue_in_order_and_update(db: Database) -> None:
    store = ConfigRepository(db)
    records = await store.add_changes(
        "A",
        [NewChange("K1", "1"), NewChange("K2", "2", forced=True, warnings=("careful",))],
        "when-idle",
        "api",
        10.0,
    )
    await store.add_changes("B", [NewChange("K1", "x")], "now", "scn:1", 11.0)
    assert [r.state for r in records] == ["queued", "queued"]
    assert records[1].forced and records[1].warnings == ("careful",)
    queued = await store.changes("A", states=[ch.QUEUED])
    assert [r.key for r in queued] == ["K1", "K2"]
    updated = await store.update_change(
        records[0].id, 12.0, state=ch.REBOOT_PENDING, status="RebootRequired", sent_at=12.0
    )
    assert (updated.state, updated.status, updated.sent_at, updated.updated_at) == (
        "reboot-pending",
        "RebootRequired",
        12.0,
        12.0,
    )
    assert [r.key for r in await store.changes("A", states=[ch.QUEUED, ch.REBOOT_PENDING])] == [
        "K1",
        "K2",
    ]
    assert [r.id for r in await store.changes("A", limit=1)] == [records[1].id]
    assert await store.stations_with_changes([ch.QUEUED]) == ["A", "B"]
    assert [r.id for r in await store.changes_by_id([records[1].id, records[0].id])] == [
        records[0].id,
        records[1].id,
    ]
    with pytest.raises(ValueError, match="unknown change fields"):
        await store.update_change(records[0].id, 13.0, key="other")


async def test_license_and_scn_jobs(db: Database) -> None:
    store = ConfigRepository(db)
    job = await store.add_license_job("A", "0x00000000", 1.0)
    await store.set_license_change(job.id, 42)
    assert (await store.license_job(job.id)).change_id == 42  # type: ignore[union-attr]
    assert [j.id for j in await store.license_jobs("A", running_only=True)] == [job.id]
    done = await store.finish_license_job(job.id, "done", "0x7", ["SCN"], None, 2.0)
    assert done is not None and done.unlocked == ("SCN",)
    assert await store.finish_license_job(job.id, "failed", None, [], "late", 3.0) is None
    assert await store.license_jobs("A", running_only=True) == []

    scn = await store.add_scn_job("GARAGE", "now", {"name": "GARAGE"}, 5.0)
    assert scn.state == "running" and scn.plan == {"name": "GARAGE"}
    await store.update_scn_job(scn.id, "running", {"change_ids": {"A": [1]}}, None, 6.0)
    await store.interrupt_running_jobs(7.0)
    job_row = await store.scn_job(scn.id)
    assert job_row is not None
    assert job_row.state == "interrupted" and job_row.result == {"change_ids": {"A": [1]}}
    assert [j.id for j in await store.scn_jobs()] == [scn.id]


ANSWERS = [
    # (status, key, policy, state)
    ("Accepted", "HeartbeatInterval", "when-idle", ch.VERIFYING),
    ("Accepted", "AuthorizationKey", "when-idle", ch.ACCEPTED),  # write-only
    ("Accepted", "FeatureLicenseKey", "when-idle", ch.REBOOT_PENDING),  # guide: reboot anyway
    ("Accepted", "FeatureLicenseKey", "never", ch.VERIFYING),
    ("RebootRequired", "SCN-SocketID", "when-idle", ch.REBOOT_PENDING),
    ("RebootRequired", "SCN-SocketID", "now", ch.REBOOT_PENDING),
    ("RebootRequired", "SCN-SocketID", "never", ch.REBOOT_REQUIRED),
    ("RebootRequired", "Unknown", "never", ch.REBOOT_REQUIRED),
    ("Rejected", "HeartbeatInterval", "now", ch.REJECTED),
    ("NotSupported", "Unknown", "now", ch.NOT_SUPPORTED),
    ("Weird", "HeartbeatInterval", "now", ch.FAILED),
]


@pytest.mark.parametrize(("status", "key", "policy", "state"), ANSWERS)
def test_state_after_answer(status: str, key: str, policy: ch.RebootPolicy, state: str) -> None:
    assert ch.state_after_answer(status, lookup(key), policy) == state


def test_verify_and_reset_rules() -> None:
    assert ch.verify("Station-MaxCurrent", "20.0", True, "20") == (ch.VERIFIED, None)
    state, detail = ch.verify("Station-MaxCurrent", "20.0", True, "32.0")
    assert state == ch.NOT_VERIFIED and "'32.0'" in detail
    assert ch.verify("X", "1", False, None)[0] == ch.NOT_VERIFIED
    assert ch.reset_due(["when-idle"], 0)
    assert not ch.reset_due(["when-idle"], 1)
    assert ch.reset_due(["when-idle", "now"], 2)
    assert not ch.reset_due(["never"], 0)
    assert not ch.reset_due([], 0)


LICENSE_OUTCOMES = [
    ("0x00000000", "0x00000007", "done", ["ALB", "SCN", "SLB"]),
    (None, "0x00000004", "done", ["ALB", "SLB"]),
    ("0x00000004", "0x00000005", "done", ["SCN"]),
    ("0x00000007", "0x00000007", "failed", []),
    ("0x0", "garbage!", "failed", []),
]


@pytest.mark.parametrize(("before", "after", "state", "unlocked"), LICENSE_OUTCOMES)
def test_license_outcome(before: str | None, after: str, state: str, unlocked: list[str]) -> None:
    got_state, got_unlocked, detail = outcome(before, after)
    assert (got_state, got_unlocked) == (state, unlocked)
    assert (detail is None) == (state == "done")
