"""What the edges (API, CLI, demo) may ask of configuration management: narrow `Protocol`s.

`ConfigService` implements `ConfigControl` (with `ConfigRepository` as its `ConfigReads`,
`LicenseWorkflow` as `LicenseControl` and `ScnService` as `ScnControl`). The API is typed against
these and may import this module and the records, never the service, its workers or the
workflows (an import-linter contract in pyproject.toml checks it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from csms.config import changes as ch
from csms.config.reading import KeyRead
from csms.config.records import (
    ChangeRecord,
    LicenseProgress,
    LicenseStatus,
    NewChange,
    SnapshotHeader,
    SnapshotRecord,
)
from csms.config.scn.dry_run import PlanReport
from csms.config.scn.plan import ScnPlan
from csms.config.scn.results import ScnProgress


class StationUnknown(LookupError):
    """The station is not in the database."""


class ConfigReads(Protocol):
    """Stored snapshots and changes."""

    async def latest_snapshot(self, station_id: str) -> SnapshotRecord | None: ...
    async def snapshot(self, station_id: str, snapshot_id: int) -> SnapshotRecord | None: ...
    async def previous_snapshot(self, station_id: str, before_id: int) -> SnapshotRecord | None: ...
    async def list_snapshots(self, station_id: str, limit: int = 100) -> list[SnapshotHeader]: ...
    async def change(self, change_id: int) -> ChangeRecord | None: ...
    async def changes(
        self, station_id: str, states: Sequence[str] | None = None, limit: int = 1000
    ) -> list[ChangeRecord]: ...


class LicenseControl(Protocol):
    """Licence jobs: write FeatureLicenseKey, reboot, report the unlocked features."""

    async def start(
        self, station_id: str, key: str, policy: ch.RebootPolicy = ch.DEFAULT_REBOOT_POLICY
    ) -> LicenseProgress: ...
    async def status(self, station_id: str) -> LicenseStatus: ...


class ScnControl(Protocol):
    """Smart Charging Network plans: dry run, apply, follow the jobs."""

    async def plan(self, plan: ScnPlan) -> PlanReport: ...
    async def apply(self, plan: ScnPlan, policy: ch.RebootPolicy) -> ScnProgress: ...
    async def progress(self, job_id: int) -> ScnProgress | None: ...
    async def jobs(self, limit: int = 20) -> list[ScnProgress]: ...


class ConfigControl(Protocol):
    """Snapshots, validated changes, resets, licences and SCN plans of stations."""

    @property
    def store(self) -> ConfigReads: ...
    @property
    def license(self) -> LicenseControl: ...
    @property
    def scn(self) -> ScnControl: ...

    async def require_station(self, station_id: str) -> None:
        """Raises `StationUnknown` for a station not in the database."""
        ...

    async def take_snapshot(self, station_id: str, reason: str) -> SnapshotRecord:
        """Read every key from the station and store the snapshot (raises `CallFailed`)."""
        ...

    async def read_keys(self, station_id: str, keys: Iterable[str]) -> KeyRead:
        """Read some keys from the station now (raises `CallFailed`)."""
        ...

    async def prepare(self, station_id: str, key: str, value: str, force: bool) -> NewChange:
        """Validate a change against the catalog (raises `InvalidValue`)."""
        ...

    async def submit(
        self,
        station_id: str,
        new: Sequence[NewChange],
        policy: ch.RebootPolicy = ch.DEFAULT_REBOOT_POLICY,
        origin: str = "api",
    ) -> list[ChangeRecord]:
        """Queue the changes and send them (or keep them queued while the station is offline);
        `origin` says who asked (the API, the Modbus set-up, …) in the change's record."""
        ...

    async def reset(self, station_id: str, kind: str = "Soft") -> str:
        """Send Reset; the station's answer (raises `CallFailed`)."""
        ...
