"""What an SCN apply job records and reports: its result, the members' read-back, refusals.

Records only (no I/O), so the API can render them without importing the apply workflow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from csms.config.records import ChangeRecord, ScnJob
from csms.config.scn.dry_run import PlanReport


class PlanRefused(ValueError):
    """The plan has problems; nothing was sent."""

    def __init__(self, report: PlanReport) -> None:
        super().__init__("plan refused: " + "; ".join(report.all_problems))
        self.report = report


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A planned key a member reports with another value after the apply."""

    key: str
    desired: str
    reported: str | None


@dataclass(frozen=True, slots=True)
class MemberCheck:
    """The read-back of one member after the apply."""

    consistent: bool
    mismatches: tuple[Mismatch, ...] = ()
    detail: str | None = None


@dataclass(slots=True)
class ScnResult:
    """What an apply job stores in `result`: the members (id and socket ids, from the dry
    run), the change ids per member and, once finished, every member's read-back. Filled in
    as the job goes (so not frozen)."""

    members: dict[str, tuple[int, ...]]
    change_ids: dict[str, list[int]] = field(default_factory=dict)
    checks: dict[str, MemberCheck] = field(default_factory=dict)

    @property
    def all_change_ids(self) -> list[int]:
        return [i for group in self.change_ids.values() for i in group]

    def to_json(self) -> dict[str, Any]:
        """The stored form (the shape earlier versions wrote, so old jobs still show)."""
        out: dict[str, Any] = {
            "report": {
                "stations": [
                    {"station_id": sid, "socket_ids": list(ids)}
                    for sid, ids in self.members.items()
                ]
            },
            "change_ids": self.change_ids,
        }
        if self.checks:
            out["members"] = {sid: asdict(check) for sid, check in self.checks.items()}
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScnResult:
        stations = data.get("report", {}).get("stations", [])
        checks = {
            sid: MemberCheck(
                consistent=bool(m["consistent"]),
                mismatches=tuple(Mismatch(**x) for x in m.get("mismatches", [])),
                detail=m.get("detail"),
            )
            for sid, m in data.get("members", {}).items()
        }
        return cls(
            members={s["station_id"]: tuple(s["socket_ids"]) for s in stations},
            change_ids={sid: list(ids) for sid, ids in data.get("change_ids", {}).items()},
            checks=checks,
        )


@dataclass(frozen=True, slots=True)
class ScnProgress:
    """An apply job with its result and the live state of its changes."""

    job: ScnJob
    result: ScnResult
    changes: dict[int, ChangeRecord]
