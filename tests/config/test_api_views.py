"""The JSON the API shows for licence and SCN jobs, built at the edge from typed records."""

from __future__ import annotations

import pytest

from csms.api.config import license_job_view, license_status_view
from csms.api.scn import job_view
from csms.config import changes as ch
from csms.config.records import ChangeRecord, LicenseJob, LicenseProgress, LicenseStatus, ScnJob
from csms.config.scn.results import MemberCheck, Mismatch, ScnProgress, ScnResult


def change(change_id: int, state: str, status: str | None = None) -> ChangeRecord:
    return ChangeRecord(
        id=change_id, station_id="A", key="FeatureLicenseKey", value="K", forced=False,
        reboot_policy="when-idle", origin="license:1", state=state, status=status,
        reported_value=None, detail=f"detail of {state}", warnings=(), created_at=1.0,
        sent_at=2.0, finished_at=None, updated_at=3.0,
    )  # fmt: skip


def job(
    state: str = "running", unlocked: tuple[str, ...] = (), after: str | None = None
) -> LicenseJob:
    return LicenseJob(
        id=1, station_id="A", change_id=9, state=state, features_before="0x00000000",
        features_after=after, unlocked=unlocked, detail=None, created_at=1.0, updated_at=4.0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "license_job", "record", "step"),
    [
        ("not queued yet", job(), None, "waiting to send the key (station offline?)"),
        ("queued", job(), change(9, ch.QUEUED), "waiting to send the key (station offline?)"),
        ("written, reboot waits", job(), change(9, ch.REBOOT_PENDING, "Accepted"),
         "key written; waiting to reboot"),
        ("written, policy never", job(), change(9, ch.REBOOT_REQUIRED, "RebootRequired"),
         "key written; reboot the station to unlock"),
        ("rebooting", job(), change(9, ch.REBOOTING, "Accepted"), "rebooting"),
        ("verified, boot not seen yet", job(), change(9, ch.VERIFIED, "Accepted"),
         "waiting for the station to boot"),
        ("finished", job("done", ("SCN",), "0x00000007"), change(9, ch.VERIFIED, "Accepted"),
         "finished"),
    ],
)  # fmt: skip
def test_license_job_view_says_the_step(
    name: str, license_job: LicenseJob, record: ChangeRecord | None, step: str
) -> None:
    view = license_job_view(LicenseProgress(license_job, record))
    assert view["step"] == step
    assert view["station_answer"] == (record.status if record else None)
    assert view["detail"] == (record.detail if record else None)


def test_license_views_name_the_features() -> None:
    done = LicenseProgress(job("done", ("SCN",), "0x00000007"), change(9, ch.VERIFIED, "Accepted"))
    view = license_job_view(done)
    assert view["unlocked"] == ["SCN"] and len(view["unlocked_names"]) == 1
    assert "Smart Charging Network" in view["unlocked_names"][0]
    assert len(view["features"]) == 3  # 0x7: SCN, and ALB with the SLB it includes
    status = license_status_view(LicenseStatus("A", "0x00000007", 5.0, (done,)))
    assert status["features"] == view["features"] and status["jobs"] == [view]
    assert license_status_view(LicenseStatus("A", None, None, ()))["features"] == []


def test_scn_job_view_shows_changes_and_mismatches() -> None:
    scn_job = ScnJob(
        id=3, network="GARAGE", state="failed", reboot_policy="now", plan={}, result={},
        detail="some members do not report the planned values", created_at=1.0, updated_at=2.0,
    )  # fmt: skip
    result = ScnResult(
        {"A": (0, 1), "B": (2,)},
        {"B": [7, 8]},
        {"A": MemberCheck(True), "B": MemberCheck(False, (Mismatch("SCN-SocketID", "2", "0"),))},
    )
    records = {7: change(7, ch.NOT_VERIFIED, "Accepted")}  # 8 is gone from the store
    view = job_view(ScnProgress(scn_job, result, records))
    assert view["changed_keys"] == 2 and view["reboot"] == "now"
    a, b = view["stations"]
    assert a == {
        "station_id": "A",
        "socket_ids": [0, 1],
        "changes": [],
        "consistent": True,
        "mismatches": [],
    }
    assert [c["id"] for c in b["changes"]] == [7] and b["changes"][0]["state"] == ch.NOT_VERIFIED
    assert b["consistent"] is False
    assert b["mismatches"] == [{"key": "SCN-SocketID", "desired": "2", "reported": "0"}]
    running = job_view(ScnProgress(scn_job, ScnResult({"A": (0,)}), {}))
    assert running["stations"][0]["consistent"] is None
