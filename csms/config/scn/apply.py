"""Smart Charging Network set-up against live stations: dry run, apply with reboots, verify.

The dry run compares each member's computed keys with its latest snapshot. Apply refreshes every
member's snapshot first (an installer may have changed something), refuses a plan with problems,
then writes only the keys that differ — rewriting unchanged keys on every start put one station
model into a reboot loop — with one reboot per changed station, and finally reads every member's
keys back. Applying the same plan twice therefore changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import TYPE_CHECKING

from csms.config import changes as ch
from csms.config.records import NewChange
from csms.config.scn.dry_run import PlanReport, StationFacts, current_value, dry_run
from csms.config.scn.keys import compute_keys
from csms.config.scn.plan import ScnPlan
from csms.config.scn.results import MemberCheck, Mismatch, PlanRefused, ScnProgress, ScnResult
from csms.config.validation import values_equal
from csms.ocpp.errors import CallFailed

if TYPE_CHECKING:
    from csms.config.service import ConfigService

log = logging.getLogger(__name__)
ORIGIN = "scn:"


class ScnService:
    """Plans and applies SCN plans through the configuration service."""

    def __init__(self, service: ConfigService) -> None:
        self.service = service

    async def plan(self, plan: ScnPlan) -> PlanReport:
        """Dry run against the stations' latest snapshots."""
        snapshots = await self.service.store.latest_snapshots()
        facts = {}
        for station in plan.stations:
            known = await self.service.records.stations.get(station.id) is not None
            snap = snapshots.get(station.id)
            facts[station.id] = StationFacts(
                known=known,
                online=self.service.link.is_online(station.id),
                config=snap.values if snap else None,
            )
        others = {sid: snap.values for sid, snap in snapshots.items()}
        return dry_run(plan, facts, others)

    async def apply(self, plan: ScnPlan, policy: ch.RebootPolicy) -> ScnProgress:
        """Refresh the members' snapshots, check, queue the differing keys and start the job.

        Raises `PlanRefused` when the plan (or a member) has problems.
        """
        service = self.service
        for station in plan.stations:
            if service.link.is_online(station.id):
                try:
                    await service.take_snapshot(station.id, "scn")
                except CallFailed as exc:
                    log.info("%s: snapshot before SCN apply failed: %s", station.id, exc)
        report = await self.plan(plan)
        if not report.ok:
            raise PlanRefused(report)
        job = await service.store.add_scn_job(plan.name, policy, asdict(plan), service.clock())
        result = ScnResult({member.station_id: member.socket_ids for member in report.stations})
        for member in report.stations:
            if not member.changes:
                continue
            new = [NewChange(k.key, k.desired) for k in member.changes]
            records = await service.submit(
                member.station_id, new, policy, origin=f"{ORIGIN}{job.id}", wait_answer=False
            )
            result.change_ids[member.station_id] = [r.id for r in records]
        job = await service.store.update_scn_job(
            job.id, "running", result.to_json(), None, service.clock()
        )
        service.spawn(self._finish(job.id, plan, result), f"scn-apply-{job.id}")
        progress = await self.progress(job.id)
        assert progress is not None
        return progress

    async def _finish(self, job_id: int, plan: ScnPlan, result: ScnResult) -> None:
        """Wait for every change to settle (reboots included), then read every member back."""
        service = self.service
        try:
            records = await service.wait_settled(result.all_change_ids)
            desired = compute_keys(plan)
            for station_id, keys in desired.items():
                result.checks[station_id] = await self._verify_member(station_id, keys)
            if all(check.consistent for check in result.checks.values()):
                state, detail = "done", None
            elif any(r.state == ch.REBOOT_REQUIRED for r in records):
                state, detail = "reboot-required", "values wait for a reboot (policy never)"
            else:
                state, detail = "failed", "some members do not report the planned values"
            await service.store.update_scn_job(
                job_id, state, result.to_json(), detail, service.clock()
            )
        except Exception as exc:
            log.exception("SCN apply job %s failed", job_id)
            result.checks.clear()
            await service.store.update_scn_job(
                job_id, "failed", result.to_json(), str(exc), service.clock()
            )

    async def _verify_member(self, station_id: str, keys: dict[str, str]) -> MemberCheck:
        try:
            read = await self.service.read_keys(station_id, list(keys))
        except CallFailed as exc:
            return MemberCheck(False, (), f"cannot read keys: {exc}")
        mismatches = tuple(
            Mismatch(key, value, current_value(read.values, key))
            for key, value in keys.items()
            if not values_equal(key, value, current_value(read.values, key))
        )
        return MemberCheck(not mismatches, mismatches, None)

    async def progress(self, job_id: int) -> ScnProgress | None:
        """A job with the live state of its changes; None when there is no such job."""
        job = await self.service.store.scn_job(job_id)
        if job is None:
            return None
        result = ScnResult.from_json(job.result)
        records = await self.service.store.changes_by_id(result.all_change_ids)
        return ScnProgress(job, result, {r.id: r for r in records})

    async def jobs(self, limit: int = 20) -> list[ScnProgress]:
        """The latest jobs, newest first, with the live state of their changes."""
        out = []
        for job in await self.service.store.scn_jobs(limit):
            progress = await self.progress(job.id)
            if progress is not None:
                out.append(progress)
        return out
