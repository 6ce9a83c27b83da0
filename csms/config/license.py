"""The licence workflow (guide 2.2.2): check the key, write FeatureLicenseKey, reboot, re-read
UnlockedFeatures and report which features the key unlocked.

A job records `UnlockedFeatures` before the write; the first boot after the key was sent decides
the outcome from that boot's snapshot. The reboot follows the request's policy (`when-idle` by
default, so no charging session is cut short).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csms.config import changes as ch
from csms.config.features import check_license_key, parse_unlocked_features
from csms.config.records import (
    ChangeRecord,
    LicenseJob,
    LicenseProgress,
    LicenseStatus,
    SnapshotRecord,
)
from csms.config.snapshot import ConfigEntry
from csms.config.validation import InvalidValue
from csms.ocpp.errors import CallFailed

if TYPE_CHECKING:
    from csms.config.service import ConfigService

ORIGIN = "license:"
FAILED_STATES = (ch.REJECTED, ch.NOT_SUPPORTED, ch.FAILED)


def outcome(before: str | None, after: str | None) -> tuple[str, list[str], str | None]:
    """(job state, newly unlocked feature codes, detail) from UnlockedFeatures before/after."""
    old = parse_unlocked_features(before) or frozenset()
    new = parse_unlocked_features(after)
    if new is None:
        return "failed", [], f"cannot read UnlockedFeatures {after!r} after the reboot"
    unlocked = sorted(new - old)
    if unlocked:
        return "done", unlocked, None
    return "failed", [], f"the key unlocked no new features (UnlockedFeatures is {after!r})"


class LicenseWorkflow:
    """Starts licence jobs and finishes them from the station's answers and boots."""

    def __init__(self, service: ConfigService) -> None:
        self.service = service
        service.add_settle_hook(self._on_settled)
        service.add_boot_hook(self._on_boot)

    async def start(
        self, station_id: str, key: str, policy: ch.RebootPolicy = ch.DEFAULT_REBOOT_POLICY
    ) -> LicenseProgress:
        """Check the key's format (raises `InvalidValue`), then queue the write and its reboot."""
        key = key.strip()
        rule = check_license_key(key)
        if rule:
            raise InvalidValue("FeatureLicenseKey", key, rule)
        service = self.service
        await service.require_station(station_id)
        before = await self._current_features(station_id)
        job = await service.store.add_license_job(station_id, before, service.clock())
        new = await service.prepare(station_id, "FeatureLicenseKey", key, force=False)
        (record,) = await service.submit(station_id, [new], policy, origin=f"{ORIGIN}{job.id}")
        await service.store.set_license_change(job.id, record.id)
        return await self.progress(job.id)

    async def _current_features(self, station_id: str) -> str | None:
        service = self.service
        if service.link.is_online(station_id):
            try:
                read = await service.read_keys(station_id, ["UnlockedFeatures"])
                return read.values.get("UnlockedFeatures")
            except CallFailed:
                pass
        latest = await service.store.latest_snapshot(station_id)
        return latest.values.get("UnlockedFeatures") if latest else None

    async def progress(self, job_id: int) -> LicenseProgress:
        """A job (it must exist) with its change."""
        job = await self.service.store.license_job(job_id)
        assert job is not None
        return await self._with_change(job)

    async def _with_change(self, job: LicenseJob) -> LicenseProgress:
        change = await self.service.store.change(job.change_id) if job.change_id else None
        return LicenseProgress(job, change)

    async def status(self, station_id: str) -> LicenseStatus:
        """Current features (latest snapshot) and the station's licence jobs, newest first."""
        latest = await self.service.store.latest_snapshot(station_id)
        jobs = await self.service.store.license_jobs(station_id)
        return LicenseStatus(
            station_id=station_id,
            unlocked_features=latest.values.get("UnlockedFeatures") if latest else None,
            snapshot_taken_at=latest.taken_at if latest else None,
            jobs=tuple([await self._with_change(job) for job in jobs]),
        )

    async def _on_settled(self, record: ChangeRecord, snapshot: SnapshotRecord | None) -> None:
        if not record.origin.startswith(ORIGIN) or record.state not in FAILED_STATES:
            return
        job_id = int(record.origin[len(ORIGIN) :])
        detail = f"station answered {record.status or 'nothing'}: {record.detail or record.state}"
        await self.service.store.finish_license_job(
            job_id, "failed", None, [], detail, self.service.clock()
        )

    async def _on_boot(self, snapshot: SnapshotRecord, booted_at: float) -> None:
        store = self.service.store
        for job in await store.license_jobs(snapshot.station_id, running_only=True):
            change = await store.change(job.change_id) if job.change_id else None
            if change is None or change.sent_at is None or change.sent_at > booted_at:
                continue  # the key was not written before this boot
            after = _value(snapshot.entries, "UnlockedFeatures")
            state, unlocked, detail = outcome(job.features_before, after)
            await store.finish_license_job(
                job.id, state, after, unlocked, detail, self.service.clock()
            )


def _value(entries: tuple[ConfigEntry, ...], key: str) -> str | None:
    return next((e.value for e in entries if e.key == key), None)
