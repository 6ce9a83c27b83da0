"""Storage of id tags and of each station's local-list version (both engines)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from csms.storage.database import Database, Row, Stmt
from csms.tags.model import REMOVED, Tag

_NEXT_VERSION = "(SELECT COALESCE(MAX(version), 0) + 1 FROM id_tags)"


def _tag(row: Row) -> Tag:
    return Tag(
        id_tag=row["id_tag"],
        status=row["status"],
        expiry_at=row["expiry_at"],
        parent_id_tag=row["parent_id_tag"],
        station_id=row["station_id"],
        note=row["note"],
        version=int(row["version"]),
        created_at=float(row["created_at"]),
        updated_at=row["updated_at"],
    )


@dataclass(frozen=True, slots=True)
class LocalListState:
    """What we know of one station's local list."""

    station_id: str
    sent_version: int
    station_version: int | None
    status: str
    synced_at: float


class TagRepository:
    """Id tags; every change takes the next list version (and so do the tag's children, whose
    effective status follows their parent)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, id_tag: str) -> Tag | None:
        row = await self.db.fetchrow("SELECT * FROM id_tags WHERE id_tag = $1", id_tag)
        return None if row is None else _tag(row)

    async def all(self, include_removed: bool = False) -> list[Tag]:
        sql = "SELECT * FROM id_tags"
        if not include_removed:
            sql += f" WHERE status <> '{REMOVED}'"
        return [_tag(r) for r in await self.db.fetch(sql + " ORDER BY id_tag")]

    async def list_version(self) -> int:
        return int(await self.db.fetchval("SELECT COALESCE(MAX(version), 0) FROM id_tags"))

    async def put(self, tags: Sequence[Tag], now: float) -> None:
        """Insert or replace the tags (one transaction), each at a new list version."""
        stmts = []
        for tag in tags:
            stmts.append(
                Stmt(
                    "INSERT INTO id_tags (id_tag, note, created_at, status, expiry_at, "
                    "parent_id_tag, station_id, version, updated_at) "
                    f"VALUES ($1, $2, $3, $4, $5, $6, $7, {_NEXT_VERSION}, $3) "
                    "ON CONFLICT (id_tag) DO UPDATE SET note = excluded.note, "
                    "status = excluded.status, expiry_at = excluded.expiry_at, "
                    "parent_id_tag = excluded.parent_id_tag, station_id = excluded.station_id, "
                    "version = excluded.version, updated_at = excluded.updated_at",
                    (
                        tag.id_tag,
                        tag.note,
                        now,
                        tag.status,
                        tag.expiry_at,
                        tag.parent_id_tag,
                        tag.station_id,
                    ),
                )
            )
            stmts.append(self._touch_children(tag.id_tag, now))
        if stmts:
            await self.db.write(*stmts)

    def _touch_children(self, id_tag: str, now: float) -> Stmt:
        return Stmt(
            f"UPDATE id_tags SET version = {_NEXT_VERSION}, updated_at = $2 "
            "WHERE parent_id_tag = $1",
            (id_tag, now),
        )

    async def set_status(self, id_tag: str, status: str, now: float) -> bool:
        """Change a known tag's status; False when the tag is unknown (or removed)."""
        rows, _ = await self.db.write(
            Stmt(
                f"UPDATE id_tags SET status = $2, version = {_NEXT_VERSION}, updated_at = $3 "
                f"WHERE id_tag = $1 AND status <> '{REMOVED}' RETURNING id_tag",
                (id_tag, status, now),
            ),
            self._touch_children(id_tag, now),
        )
        return bool(rows)

    # -- local lists -------------------------------------------------------------------------
    async def local_list(self, station_id: str) -> LocalListState | None:
        row = await self.db.fetchrow(
            "SELECT * FROM local_list_versions WHERE station_id = $1", station_id
        )
        if row is None:
            return None
        return LocalListState(
            station_id=row["station_id"],
            sent_version=int(row["sent_version"]),
            station_version=None if row["station_version"] is None else int(row["station_version"]),
            status=row["status"],
            synced_at=float(row["synced_at"]),
        )

    async def record_local_list(self, state: LocalListState) -> None:
        await self.db.write(
            Stmt(
                "INSERT INTO local_list_versions (station_id, sent_version, station_version, "
                "status, synced_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (station_id) DO "
                "UPDATE SET sent_version = excluded.sent_version, "
                "station_version = excluded.station_version, status = excluded.status, "
                "synced_at = excluded.synced_at",
                (
                    state.station_id,
                    state.sent_version,
                    state.station_version,
                    state.status,
                    state.synced_at,
                ),
            )
        )
