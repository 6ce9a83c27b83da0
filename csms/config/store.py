"""Storage of configuration snapshots, changes, licence jobs and SCN jobs (both engines)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from csms.config.snapshot import ConfigEntry
from csms.storage.database import Database, Row, Stmt


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """A stored snapshot: every key a station reported at `taken_at`."""

    id: int
    station_id: str
    taken_at: float
    reason: str
    entries: tuple[ConfigEntry, ...]
    unknown_keys: tuple[str, ...]
    checked_at: float  # the last read that found exactly this configuration

    @property
    def values(self) -> dict[str, str | None]:
        return {e.key: e.value for e in self.entries}

    @classmethod
    def from_row(cls, row: Row) -> SnapshotRecord:
        return cls(
            id=int(row["id"]),
            station_id=row["station_id"],
            taken_at=float(row["taken_at"]),
            reason=row["reason"],
            entries=tuple(ConfigEntry(k, v, bool(ro)) for k, v, ro in orjson.loads(row["entries"])),
            unknown_keys=tuple(orjson.loads(row["unknown_keys"])),
            checked_at=float(row["checked_at"] or row["taken_at"]),
        )


@dataclass(frozen=True, slots=True)
class SnapshotHeader:
    """A stored snapshot without its key list (for the history)."""

    id: int
    station_id: str
    taken_at: float
    checked_at: float | None
    reason: str
    key_count: int

    @classmethod
    def from_row(cls, row: Row) -> SnapshotHeader:
        checked_at = row["checked_at"]
        return cls(
            id=int(row["id"]),
            station_id=row["station_id"],
            taken_at=float(row["taken_at"]),
            checked_at=None if checked_at is None else float(checked_at),
            reason=row["reason"],
            key_count=int(row["key_count"]),
        )


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One requested configuration change and how far it got."""

    id: int
    station_id: str
    key: str
    value: str
    forced: bool
    reboot_policy: str
    origin: str
    state: str
    status: str | None
    reported_value: str | None
    detail: str | None
    warnings: tuple[str, ...]
    created_at: float
    sent_at: float | None
    finished_at: float | None
    updated_at: float

    @classmethod
    def from_row(cls, row: Row) -> ChangeRecord:
        return cls(
            id=int(row["id"]),
            station_id=row["station_id"],
            key=row["key"],
            value=row["value"],
            forced=bool(row["forced"]),
            reboot_policy=row["reboot_policy"],
            origin=row["origin"],
            state=row["state"],
            status=row["status"],
            reported_value=row["reported_value"],
            detail=row["detail"],
            warnings=tuple(orjson.loads(row["warnings"])),
            created_at=float(row["created_at"]),
            sent_at=row["sent_at"],
            finished_at=row["finished_at"],
            updated_at=float(row["updated_at"]),
        )


@dataclass(frozen=True, slots=True)
class NewChange:
    """A validated change to queue."""

    key: str
    value: str
    forced: bool = False
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LicenseJob:
    """A licence job: the FeatureLicenseKey change it wrote and the features before and after."""

    id: int
    station_id: str
    change_id: int | None
    state: str  # running, done, failed
    features_before: str | None
    features_after: str | None
    unlocked: tuple[str, ...]  # feature codes the key unlocked
    detail: str | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Row) -> LicenseJob:
        change_id = row["change_id"]
        return cls(
            id=int(row["id"]),
            station_id=row["station_id"],
            change_id=None if change_id is None else int(change_id),
            state=row["state"],
            features_before=row["features_before"],
            features_after=row["features_after"],
            unlocked=tuple(orjson.loads(row["unlocked"])),
            detail=row["detail"],
            created_at=float(row["created_at"]),
            updated_at=float(row["updated_at"]),
        )


@dataclass(frozen=True, slots=True)
class ScnJob:
    """An SCN apply job; `plan` and `result` are JSON documents (csms/config/scn/apply.py)."""

    id: int
    network: str
    state: str  # running, done, failed, reboot-required, interrupted
    reboot_policy: str
    plan: dict[str, Any]
    result: dict[str, Any]
    detail: str | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Row) -> ScnJob:
        return cls(
            id=int(row["id"]),
            network=row["network"],
            state=row["state"],
            reboot_policy=row["reboot_policy"],
            plan=orjson.loads(row["plan"]),
            result=orjson.loads(row["result"]),
            detail=row["detail"],
            created_at=float(row["created_at"]),
            updated_at=float(row["updated_at"]),
        )


_CHANGE_FIELDS = {"state", "status", "reported_value", "detail", "sent_at", "finished_at"}


def _in(column: str, values: Sequence[Any], first: int) -> str:
    marks = ", ".join(f"${i}" for i in range(first, first + len(values)))
    return f"{column} IN ({marks})"


class ConfigStore:
    """Repository of the configuration-management tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- snapshots ---------------------------------------------------------------------------
    async def add_snapshot(
        self,
        station_id: str,
        taken_at: float,
        reason: str,
        entries: Sequence[ConfigEntry],
        unknown_keys: Sequence[str],
    ) -> SnapshotRecord:
        """Store a read; one that equals the latest snapshot only updates its `checked_at`."""
        latest = await self.latest_snapshot(station_id)
        if (
            latest is not None
            and latest.entries == tuple(entries)
            and latest.unknown_keys == tuple(unknown_keys)
        ):
            (rows,) = await self.db.write(
                Stmt(
                    "UPDATE config_snapshots SET checked_at = $2 WHERE id = $1 RETURNING *",
                    (latest.id, taken_at),
                )
            )
            return SnapshotRecord.from_row(rows[0])
        (rows,) = await self.db.write(
            Stmt(
                "INSERT INTO config_snapshots (station_id, taken_at, reason, key_count, entries, "
                "unknown_keys, checked_at) VALUES ($1, $2, $3, $4, $5, $6, $2) RETURNING *",
                (
                    station_id,
                    taken_at,
                    reason,
                    len(entries),
                    _json([[e.key, e.value, e.readonly] for e in entries]),
                    _json(list(unknown_keys)),
                ),
            )
        )
        return SnapshotRecord.from_row(rows[0])

    async def latest_snapshot(self, station_id: str) -> SnapshotRecord | None:
        row = await self.db.fetchrow(
            "SELECT * FROM config_snapshots WHERE station_id = $1 ORDER BY id DESC LIMIT 1",
            station_id,
        )
        return None if row is None else SnapshotRecord.from_row(row)

    async def snapshot(self, station_id: str, snapshot_id: int) -> SnapshotRecord | None:
        row = await self.db.fetchrow(
            "SELECT * FROM config_snapshots WHERE station_id = $1 AND id = $2",
            station_id,
            snapshot_id,
        )
        return None if row is None else SnapshotRecord.from_row(row)

    async def previous_snapshot(self, station_id: str, before_id: int) -> SnapshotRecord | None:
        row = await self.db.fetchrow(
            "SELECT * FROM config_snapshots WHERE station_id = $1 AND id < $2 "
            "ORDER BY id DESC LIMIT 1",
            station_id,
            before_id,
        )
        return None if row is None else SnapshotRecord.from_row(row)

    async def list_snapshots(self, station_id: str, limit: int = 100) -> list[SnapshotHeader]:
        """Newest first, without the key lists."""
        rows = await self.db.fetch(
            "SELECT id, station_id, taken_at, checked_at, reason, key_count FROM config_snapshots "
            "WHERE station_id = $1 ORDER BY id DESC LIMIT $2",
            station_id,
            limit,
        )
        return [SnapshotHeader.from_row(row) for row in rows]

    async def latest_snapshots(self) -> dict[str, SnapshotRecord]:
        """The latest snapshot of every station that has one."""
        rows = await self.db.fetch(
            "SELECT s.* FROM config_snapshots s JOIN (SELECT station_id, MAX(id) AS id "
            "FROM config_snapshots GROUP BY station_id) m ON s.id = m.id"
        )
        return {r["station_id"]: SnapshotRecord.from_row(r) for r in rows}

    # -- changes -----------------------------------------------------------------------------
    async def add_changes(
        self,
        station_id: str,
        changes: Sequence[NewChange],
        reboot_policy: str,
        origin: str,
        now: float,
    ) -> list[ChangeRecord]:
        """Queue `changes` in one atomic write, so a worker sees all of them or none."""
        results = await self.db.write(
            *(
                Stmt(
                    "INSERT INTO config_changes (station_id, key, value, forced, reboot_policy, "
                    "origin, state, warnings, created_at, updated_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8, $8) RETURNING *",
                    (
                        station_id,
                        c.key,
                        c.value,
                        int(c.forced),
                        reboot_policy,
                        origin,
                        _json(list(c.warnings)),
                        now,
                    ),
                )
                for c in changes
            )
        )
        return [ChangeRecord.from_row(rows[0]) for rows in results]

    async def update_change(self, change_id: int, now: float, **fields: Any) -> ChangeRecord:
        unknown = set(fields) - _CHANGE_FIELDS
        if unknown:
            raise ValueError(f"unknown change fields {sorted(unknown)}")
        names = sorted(fields)
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=3))
        (rows,) = await self.db.write(
            Stmt(
                f"UPDATE config_changes SET updated_at = $2, {sets} WHERE id = $1 RETURNING *",
                (change_id, now, *(fields[n] for n in names)),
            )
        )
        return ChangeRecord.from_row(rows[0])

    async def change(self, change_id: int) -> ChangeRecord | None:
        row = await self.db.fetchrow("SELECT * FROM config_changes WHERE id = $1", change_id)
        return None if row is None else ChangeRecord.from_row(row)

    async def changes_by_id(self, ids: Iterable[int]) -> list[ChangeRecord]:
        ids = list(ids)
        if not ids:
            return []
        rows = await self.db.fetch(
            f"SELECT * FROM config_changes WHERE {_in('id', ids, 1)} ORDER BY id", *ids
        )
        return [ChangeRecord.from_row(r) for r in rows]

    async def changes(
        self, station_id: str, states: Sequence[str] | None = None, limit: int = 1000
    ) -> list[ChangeRecord]:
        """A station's changes in the order they were requested (oldest first)."""
        if states:
            rows = await self.db.fetch(
                "SELECT * FROM config_changes WHERE station_id = $1 AND "
                f"{_in('state', states, 2)} ORDER BY id LIMIT ${len(states) + 2}",
                station_id,
                *states,
                limit,
            )
        else:
            rows = await self.db.fetch(
                "SELECT * FROM (SELECT * FROM config_changes WHERE station_id = $1 "
                "ORDER BY id DESC LIMIT $2) recent ORDER BY id",
                station_id,
                limit,
            )
        return [ChangeRecord.from_row(r) for r in rows]

    async def stations_with_changes(self, states: Sequence[str]) -> list[str]:
        rows = await self.db.fetch(
            f"SELECT DISTINCT station_id FROM config_changes WHERE {_in('state', states, 1)}",
            *states,
        )
        return sorted(r["station_id"] for r in rows)

    # -- licence jobs ------------------------------------------------------------------------
    async def add_license_job(
        self, station_id: str, features_before: str | None, now: float
    ) -> LicenseJob:
        (rows,) = await self.db.write(
            Stmt(
                "INSERT INTO license_jobs (station_id, state, features_before, created_at, "
                "updated_at) VALUES ($1, 'running', $2, $3, $3) RETURNING *",
                (station_id, features_before, now),
            )
        )
        return LicenseJob.from_row(rows[0])

    async def set_license_change(self, job_id: int, change_id: int) -> None:
        await self.db.write(
            Stmt("UPDATE license_jobs SET change_id = $2 WHERE id = $1", (job_id, change_id))
        )

    async def license_job(self, job_id: int) -> LicenseJob | None:
        row = await self.db.fetchrow("SELECT * FROM license_jobs WHERE id = $1", job_id)
        return None if row is None else LicenseJob.from_row(row)

    async def finish_license_job(
        self,
        job_id: int,
        state: str,
        features_after: str | None,
        unlocked: Sequence[str],
        detail: str | None,
        now: float,
    ) -> LicenseJob | None:
        """Finish a running job; None when it was already finished."""
        (rows,) = await self.db.write(
            Stmt(
                "UPDATE license_jobs SET state = $2, features_after = $3, unlocked = $4, "
                "detail = $5, updated_at = $6 WHERE id = $1 AND state = 'running' RETURNING *",
                (job_id, state, features_after, _json(list(unlocked)), detail, now),
            )
        )
        return LicenseJob.from_row(rows[0]) if rows else None

    async def license_jobs(
        self, station_id: str, running_only: bool = False, limit: int = 20
    ) -> list[LicenseJob]:
        """Newest first."""
        extra = " AND state = 'running'" if running_only else ""
        rows = await self.db.fetch(
            f"SELECT * FROM license_jobs WHERE station_id = $1{extra} ORDER BY id DESC LIMIT $2",
            station_id,
            limit,
        )
        return [LicenseJob.from_row(r) for r in rows]

    # -- SCN jobs ----------------------------------------------------------------------------
    async def add_scn_job(self, network: str, policy: str, plan: Any, now: float) -> ScnJob:
        (rows,) = await self.db.write(
            Stmt(
                "INSERT INTO scn_jobs (network, state, reboot_policy, plan, created_at, "
                "updated_at) VALUES ($1, 'running', $2, $3, $4, $4) RETURNING *",
                (network, policy, _json(plan), now),
            )
        )
        return ScnJob.from_row(rows[0])

    async def update_scn_job(
        self, job_id: int, state: str, result: Any, detail: str | None, now: float
    ) -> ScnJob:
        (rows,) = await self.db.write(
            Stmt(
                "UPDATE scn_jobs SET state = $2, result = $3, detail = $4, updated_at = $5 "
                "WHERE id = $1 RETURNING *",
                (job_id, state, _json(result), detail, now),
            )
        )
        return ScnJob.from_row(rows[0])

    async def scn_job(self, job_id: int) -> ScnJob | None:
        row = await self.db.fetchrow("SELECT * FROM scn_jobs WHERE id = $1", job_id)
        return None if row is None else ScnJob.from_row(row)

    async def scn_jobs(self, limit: int = 20) -> list[ScnJob]:
        rows = await self.db.fetch("SELECT * FROM scn_jobs ORDER BY id DESC LIMIT $1", limit)
        return [ScnJob.from_row(r) for r in rows]

    async def interrupt_running_jobs(self, now: float) -> None:
        """Jobs left running by a previous process cannot finish; say so."""
        await self.db.write(
            Stmt(
                "UPDATE scn_jobs SET state = 'interrupted', detail = 'central system restarted', "
                "updated_at = $1 WHERE state = 'running'",
                (now,),
            )
        )
