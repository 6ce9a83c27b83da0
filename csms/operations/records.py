"""Typed records of operations: reservations, firmware files and updates, diagnostics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FIRMWARE_FAILED = frozenset({"DownloadFailed", "InstallationFailed"})
FIRMWARE_DONE = frozenset({"Installed"})
DIAGNOSTICS_FAILED = frozenset({"UploadFailed"})


@dataclass(frozen=True, slots=True)
class Reservation:
    """A ReserveNow as sent and answered; `state` adds what happened since (see `state_of`)."""

    id: int
    station_id: str
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    expiry: float
    station_status: str
    """The station's answer: Accepted, Faulted, Occupied, Rejected, Unavailable (or Sending)."""
    created_at: float
    cancelled_at: float | None
    transaction_id: int | None
    """The transaction whose StartTransaction carried this reservation id (it ends it)."""

    def state(self, now: float) -> str:
        """active, used, cancelled, expired, or refused (the station did not accept it)."""
        if self.station_status != "Accepted":
            return "refused"
        if self.transaction_id is not None:
            return "used"
        if self.cancelled_at is not None:
            return "cancelled"
        if self.expiry <= now:
            return "expired"
        return "active"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Reservation:
        return cls(
            id=int(row["id"]),
            station_id=row["station_id"],
            connector_id=int(row["connector_id"]),
            id_tag=row["id_tag"],
            parent_id_tag=row["parent_id_tag"],
            expiry=float(row["expiry"]),
            station_status=row["station_status"],
            created_at=float(row["created_at"]),
            cancelled_at=row["cancelled_at"],
            transaction_id=row.get("transaction_id"),
        )


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A firmware file given to the central system, or a diagnostics file a station uploaded."""

    id: str
    name: str
    size: int
    sha256: str
    token: str
    """The unguessable part of its download URL (firmware) or upload URL (diagnostics)."""
    station_id: str | None
    stored_at: float

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StoredFile:
        return cls(
            id=str(row["id"]),
            name=row["name"],
            size=int(row["size"]),
            sha256=row["sha256"],
            token=row["token"],
            station_id=row.get("station_id"),
            stored_at=float(row["stored_at"]),
        )


@dataclass(frozen=True, slots=True)
class StatusStep:
    """One Firmware/DiagnosticsStatusNotification as received."""

    status: str
    at: float


@dataclass(frozen=True, slots=True)
class FirmwareState:
    """A station's latest firmware update and its progress (what alerts read)."""

    station_id: str
    file_id: str | None
    requested_at: float | None
    status: str | None
    """The latest FirmwareStatusNotification status (None: nothing heard yet)."""
    steps: tuple[StatusStep, ...]

    @property
    def failed(self) -> bool:
        """DownloadFailed or InstallationFailed was the last word."""
        return self.status in FIRMWARE_FAILED


@dataclass(frozen=True, slots=True)
class DiagnosticsState:
    """A station's diagnostics requests' progress and the files it uploaded."""

    station_id: str
    requested_at: float | None
    file_name: str | None
    """The file name the station said it will upload (GetDiagnostics answer)."""
    status: str | None
    steps: tuple[StatusStep, ...]
    files: tuple[StoredFile, ...]

    @property
    def failed(self) -> bool:
        return self.status in DIAGNOSTICS_FAILED


def progress(notifications: list[tuple[str, float]], since: float | None) -> tuple[StatusStep, ...]:
    """The status notifications at or after `since` (all without a request), oldest first."""
    steps = [StatusStep(status, at) for status, at in notifications if since is None or at >= since]
    return tuple(sorted(steps, key=lambda s: s.at))


@dataclass(frozen=True, slots=True)
class ManualProfile:
    """A charging profile an operator set by hand on a station the control loop manages; its
    limit is the connector's operator cap until the profile is cleared."""

    station_id: str
    connector_id: int
    profile_id: int
    purpose: str
    stack_level: int
    limit_a: float
    set_at: float

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ManualProfile:
        return cls(
            station_id=row["station_id"],
            connector_id=int(row["connector_id"]),
            profile_id=int(row["profile_id"]),
            purpose=row["purpose"],
            stack_level=int(row["stack_level"]),
            limit_a=float(row["limit_a"]),
            set_at=float(row["set_at"]),
        )

    def cleared_by(
        self,
        profile_id: int | None,
        connector_id: int | None,
        purpose: str | None,
        stack_level: int | None,
    ) -> bool:
        """Whether ClearChargingProfile with these criteria removes it (OCPP 1.6 §5.5)."""
        if profile_id is not None:
            return profile_id == self.profile_id
        return (
            (connector_id is None or connector_id == self.connector_id)
            and (purpose is None or purpose == self.purpose)
            and (stack_level is None or stack_level == self.stack_level)
        )
