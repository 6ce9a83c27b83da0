"""Storage of configuration snapshots, changes, licence and SCN jobs (both engines).

The records it returns live in csms/config/records.py (re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, Literal

import orjson

from csms.config.records import (
    ChangeRecord,
    LicenseJob,
    NewChange,
    ScnJob,
    SnapshotHeader,
    SnapshotRecord,
)
from csms.config.snapshot import ConfigEntry, same_read
from csms.storage.database import Database, Stmt

__all__ = [
    "ChangeRecord",
    "ConfigRepository",
    "LicenseJob",
    "NewChange",
    "ScnJob",
    "SnapshotHeader",
    "SnapshotRecord",
]


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


_CHANGE_FIELDS = {"state", "status", "reported_value", "detail", "sent_at", "finished_at"}


def _in(column: str, values: Sequence[Any], first: int) -> str:
    marks = ", ".join(f"${i}" for i in range(first, first + len(values)))
    return f"{column} IN ({marks})"


class ConfigRepository:
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
        previous: SnapshotRecord | Literal["read"] | None = "read",
        full_read_at: float | None = None,
        full_read_firmware: str | None = None,
    ) -> SnapshotRecord:
        """Store a read; one that equals the latest snapshot only updates its `checked_at`.

        `previous` is the latest snapshot when the caller has just read it (else it is read
        here). One write either way: the confirmation only touches a row that is still the
        station's latest, so a snapshot stored in between makes this read a new one.
        `full_read_at`/`full_read_firmware`: the station's last full check (this read's or the
        one carried from `previous`), stored on the row either way.
        """
        if isinstance(previous, str):  # "read"
            previous = await self.latest_snapshot(station_id)
        entries, unknown_keys = tuple(entries), tuple(unknown_keys)
        checked = (full_read_at, full_read_firmware)
        if previous is not None and same_read(
            previous.entries, previous.unknown_keys, entries, unknown_keys
        ):
            (rows,) = await self.db.write(
                Stmt(
                    "UPDATE config_snapshots SET checked_at = $2, full_read_at = $4, "
                    "full_read_firmware = $5 WHERE id = $1 AND id = "
                    "(SELECT MAX(id) FROM config_snapshots WHERE station_id = $3) RETURNING id",
                    (previous.id, taken_at, station_id, *checked),
                )
            )
            if rows:
                return replace(
                    previous,
                    checked_at=taken_at,
                    full_read_at=full_read_at,
                    full_read_firmware=full_read_firmware,
                )
        (rows,) = await self.db.write(
            Stmt(
                "INSERT INTO config_snapshots (station_id, taken_at, reason, key_count, entries, "
                "unknown_keys, checked_at, full_read_at, full_read_firmware) "
                "VALUES ($1, $2, $3, $4, $5, $6, $2, $7, $8) RETURNING id",
                (
                    station_id,
                    taken_at,
                    reason,
                    len(entries),
                    _json([[e.key, e.value, e.readonly] for e in entries]),
                    _json(unknown_keys),
                    *checked,
                ),
            )
        )
        return SnapshotRecord(
            int(rows[0]["id"]),
            station_id,
            taken_at,
            reason,
            entries,
            unknown_keys,
            taken_at,
            full_read_at,
            full_read_firmware,
        )

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
