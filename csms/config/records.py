"""The configuration area's stored records: snapshots, changes, licence and SCN jobs.

Frozen dataclasses read from database rows (`from_row`); callers use attributes, not string keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson

from csms.config.snapshot import ConfigEntry, shared_entry

if TYPE_CHECKING:  # a type only: the records (and the pure modules using them) do no I/O
    from csms.storage.database import Row


@lru_cache(maxsize=1024)
def entries_of(text: str) -> tuple[ConfigEntry, ...]:
    """The entries of a stored key list (JSON `[[key, value, readonly], ...]`).

    Cached by the text: stations of one model store the same list, so reading the latest snapshot
    of thousands of them (a reconnect storm) decodes each distinct list once.
    """
    return tuple(shared_entry(k, v, bool(ro)) for k, v, ro in orjson.loads(text))


@lru_cache(maxsize=1024)
def unknown_of(text: str) -> tuple[str, ...]:
    """The unknown keys of a stored snapshot (a JSON list), cached like `entries_of`."""
    return tuple(orjson.loads(text))


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
    # The last full check (every key asked, or an answer that held all), carried from snapshot to
    # snapshot, and the station's firmware then: `snapshot.full_check_due` decides on them.
    full_read_at: float | None = None
    full_read_firmware: str | None = None

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
            entries=entries_of(row["entries"]),
            unknown_keys=unknown_of(row["unknown_keys"]),
            checked_at=float(row["checked_at"] or row["taken_at"]),
            full_read_at=None if row["full_read_at"] is None else float(row["full_read_at"]),
            full_read_firmware=row["full_read_firmware"],
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


@dataclass(frozen=True, slots=True)
class LicenseProgress:
    """A licence job with its FeatureLicenseKey change (None until it is queued)."""

    job: LicenseJob
    change: ChangeRecord | None


@dataclass(frozen=True, slots=True)
class LicenseStatus:
    """A station's UnlockedFeatures from its latest snapshot and its licence jobs, newest first."""

    station_id: str
    unlocked_features: str | None
    snapshot_taken_at: float | None
    jobs: tuple[LicenseProgress, ...]
