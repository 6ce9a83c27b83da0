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
from typing import TYPE_CHECKING, Any

from csms.config import changes as ch
from csms.config.scn.dry_run import PlanReport, StationFacts, current_value, dry_run
from csms.config.scn.keys import compute_keys
from csms.config.scn.plan import ScnPlan
from csms.config.store import NewChange
from csms.config.validation import values_equal
from csms.ocpp.errors import CallFailed

if TYPE_CHECKING:
    from csms.config.service import ConfigService

log = logging.getLogger(__name__)
ORIGIN = "scn:"


class PlanRefused(ValueError):
    """The plan has problems; nothing was sent."""

    def __init__(self, report: PlanReport) -> None:
        super().__init__("plan refused: " + "; ".join(report.all_problems))
        self.report = report


def report_view(report: PlanReport) -> dict[str, Any]:
    """A dry run as the API shows it."""
    return {
        "network": report.network,
        "socket_count": report.socket_count,
        "ok": report.ok,
        "problems": report.all_problems,
        "warnings": list(report.warnings),
        "stations": [
            {
                "station_id": s.station_id,
                "socket_ids": list(s.socket_ids),
                "problems": list(s.problems),
                "changes": [asdict(k) for k in s.changes],
                "keys": [asdict(k) for k in s.keys],
            }
            for s in report.stations
        ],
    }


class ScnService:
    """Plans and applies SCN plans through the configuration service."""

    def __init__(self, service: ConfigService) -> None:
        self.service = service

    async def plan(self, plan: ScnPlan) -> PlanReport:
        """Dry run against the stations' latest snapshots."""
        snapshots = await self.service.store.latest_snapshots()
        facts = {}
        for station in plan.stations:
            known = await self.service.cs.store.stations.get(station.id) is not None
            snap = snapshots.get(station.id)
            facts[station.id] = StationFacts(
                known=known,
                online=self.service.cs.registry.is_online(station.id),
                config=snap.values if snap else None,
            )
        others = {sid: snap.values for sid, snap in snapshots.items()}
        return dry_run(plan, facts, others)

    async def apply(self, plan: ScnPlan, policy: ch.RebootPolicy) -> dict[str, Any]:
        """Refresh the members' snapshots, check, queue the differing keys and start the job.

        Raises `PlanRefused` when the plan (or a member) has problems.
        """
        service = self.service
        for station in plan.stations:
            if service.cs.registry.is_online(station.id):
                try:
                    await service.take_snapshot(station.id, "scn")
                except CallFailed as exc:
                    log.info("%s: snapshot before SCN apply failed: %s", station.id, exc)
        report = await self.plan(plan)
        if not report.ok:
            raise PlanRefused(report)
        job = await service.store.add_scn_job(plan.name, policy, asdict(plan), service.cs.clock())
        change_ids: dict[str, list[int]] = {}
        for member in report.stations:
            if not member.changes:
                continue
            new = [NewChange(k.key, k.desired) for k in member.changes]
            records = await service.submit(
                member.station_id, new, policy, origin=f"{ORIGIN}{job['id']}", wait_answer=False
            )
            change_ids[member.station_id] = [r.id for r in records]
        result = {"report": report_view(report), "change_ids": change_ids}
        job = await service.store.update_scn_job(
            job["id"], "running", result, None, service.cs.clock()
        )
        service.spawn(self._finish(job["id"], plan, result), f"scn-apply-{job['id']}")
        view = await self.view(job["id"])
        assert view is not None
        return view

    async def _finish(self, job_id: int, plan: ScnPlan, result: dict[str, Any]) -> None:
        """Wait for every change to settle (reboots included), then read every member back."""
        service = self.service
        try:
            ids = [i for group in result["change_ids"].values() for i in group]
            records = await service.wait_settled(ids)
            desired = compute_keys(plan)
            members: dict[str, Any] = {}
            for station_id, keys in desired.items():
                members[station_id] = await self._verify_member(station_id, keys)
            consistent = all(m["consistent"] for m in members.values())
            if consistent:
                state, detail = "done", None
            elif any(r.state == ch.REBOOT_REQUIRED for r in records):
                state, detail = "reboot-required", "values wait for a reboot (policy never)"
            else:
                state, detail = "failed", "some members do not report the planned values"
            await service.store.update_scn_job(
                job_id, state, {**result, "members": members}, detail, service.cs.clock()
            )
        except Exception as exc:
            log.exception("SCN apply job %s failed", job_id)
            await service.store.update_scn_job(
                job_id, "failed", result, str(exc), service.cs.clock()
            )

    async def _verify_member(self, station_id: str, keys: dict[str, str]) -> dict[str, Any]:
        try:
            read = await self.service.read_keys(station_id, list(keys))
        except CallFailed as exc:
            return {"consistent": False, "mismatches": [], "detail": f"cannot read keys: {exc}"}
        mismatches = [
            {"key": key, "desired": value, "reported": current_value(read.values, key)}
            for key, value in keys.items()
            if not values_equal(key, value, current_value(read.values, key))
        ]
        return {"consistent": not mismatches, "mismatches": mismatches, "detail": None}

    async def view(self, job_id: int) -> dict[str, Any] | None:
        """A job with the live state of its changes."""
        job = await self.service.store.scn_job(job_id)
        if job is None:
            return None
        result = job["result"]
        ids = [i for group in result.get("change_ids", {}).values() for i in group]
        records = {r.id: r for r in await self.service.store.changes_by_id(ids)}
        stations = []
        for station in result.get("report", {}).get("stations", []):
            sid = station["station_id"]
            changes = [
                {
                    "id": cid,
                    "key": records[cid].key,
                    "value": records[cid].value,
                    "state": records[cid].state,
                    "status": records[cid].status,
                    "detail": records[cid].detail,
                }
                for cid in result["change_ids"].get(sid, [])
                if cid in records
            ]
            member = result.get("members", {}).get(sid)
            stations.append(
                {
                    "station_id": sid,
                    "socket_ids": station["socket_ids"],
                    "changes": changes,
                    "consistent": member["consistent"] if member else None,
                    "mismatches": member["mismatches"] if member else [],
                }
            )
        return {
            "id": job["id"],
            "network": job["network"],
            "state": job["state"],
            "reboot": job["reboot_policy"],
            "detail": job["detail"],
            "changed_keys": len(ids),
            "stations": stations,
            "created_at": job["created_at"],
            "updated_at": job["updated_at"],
        }
