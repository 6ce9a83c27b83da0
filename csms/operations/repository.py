"""Rows of operations on both engines: reservations, firmware files and updates, diagnostics.

Files are kept in the database (BLOB / BYTEA), so every node of a cluster on one PostgreSQL
database serves the same firmware URL and sees the same uploads, with no shared disk.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from csms.operations.records import ManualProfile, Reservation, StoredFile
from csms.storage.database import Database, Stmt

FIRMWARE_KIND = "FirmwareStatusNotification"
DIAGNOSTICS_KIND = "DiagnosticsStatusNotification"
_RESERVATION = (
    "SELECT r.*, (SELECT MIN(t.id) FROM transactions t WHERE t.station_id = r.station_id "
    "AND t.reservation_id = r.id) AS transaction_id FROM reservations r"
)
_FILE_COLUMNS = "id, name, size, sha256, token, stored_at"


def file_digest(content: bytes) -> tuple[str, str]:
    """(sha256 hex, file id = its first 12 hex digits)."""
    digest = hashlib.sha256(content).hexdigest()
    return digest, digest[:12]


class OperationsRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reservations ---------------------------------------------------------------------------
    async def add_reservation(
        self,
        station_id: str,
        connector_id: int,
        id_tag: str,
        parent_id_tag: str | None,
        expiry: float,
        now: float,
    ) -> int:
        """A new reservation (status Sending); its id is the reservationId to send."""
        (rows,) = await self.db.write(
            Stmt(
                "INSERT INTO reservations (station_id, connector_id, id_tag, parent_id_tag, "
                "expiry, station_status, created_at) VALUES ($1, $2, $3, $4, $5, 'Sending', $6) "
                "RETURNING id",
                (station_id, connector_id, id_tag, parent_id_tag, expiry, now),
            )
        )
        return int(rows[0]["id"])

    async def answer_reservation(self, reservation_id: int, status: str) -> None:
        await self.db.write(
            Stmt(
                "UPDATE reservations SET station_status = $2 WHERE id = $1",
                (reservation_id, status),
            )
        )

    async def cancel_reservation(self, reservation_id: int, now: float) -> None:
        await self.db.write(
            Stmt(
                "UPDATE reservations SET cancelled_at = $2 WHERE id = $1 AND cancelled_at IS NULL",
                (reservation_id, now),
            )
        )

    async def reservation(self, station_id: str, reservation_id: int) -> Reservation | None:
        row = await self.db.fetchrow(
            _RESERVATION + " WHERE r.station_id = $1 AND r.id = $2", station_id, reservation_id
        )
        return Reservation.from_row(row) if row else None

    async def reservations(self, station_id: str, limit: int = 100) -> list[Reservation]:
        """The station's reservations, newest first."""
        rows = await self.db.fetch(
            _RESERVATION + " WHERE r.station_id = $1 ORDER BY r.id DESC LIMIT $2",
            station_id,
            limit,
        )
        return [Reservation.from_row(r) for r in rows]

    # -- firmware -------------------------------------------------------------------------------
    async def add_firmware(self, name: str, content: bytes, now: float) -> StoredFile:
        """Store a firmware file (the same content twice is one file)."""
        digest, file_id = file_digest(content)
        existing = await self.firmware(file_id)
        if existing is not None:
            return existing
        await self.db.write(
            Stmt(
                "INSERT INTO firmware_files (id, name, size, sha256, token, content, stored_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                (file_id, name, len(content), digest, secrets.token_urlsafe(24), content, now),
            )
        )
        stored = await self.firmware(file_id)
        assert stored is not None
        return stored

    async def firmware(self, file_id: str) -> StoredFile | None:
        row = await self.db.fetchrow(
            f"SELECT {_FILE_COLUMNS} FROM firmware_files WHERE id = $1", file_id
        )
        return StoredFile.from_row(row) if row else None

    async def firmware_files(self) -> list[StoredFile]:
        rows = await self.db.fetch(f"SELECT {_FILE_COLUMNS} FROM firmware_files ORDER BY stored_at")
        return [StoredFile.from_row(r) for r in rows]

    async def firmware_content(self, token: str) -> tuple[StoredFile, bytes] | None:
        """The file behind a download token, with its bytes."""
        row = await self.db.fetchrow(
            f"SELECT {_FILE_COLUMNS}, content FROM firmware_files WHERE token = $1", token
        )
        return (StoredFile.from_row(row), bytes(row["content"])) if row else None

    async def add_firmware_update(
        self, station_id: str, file_id: str, location: str, retrieve_at: float, now: float
    ) -> None:
        await self.db.write(
            Stmt(
                "INSERT INTO firmware_updates (station_id, file_id, location, retrieve_at, "
                "requested_at) VALUES ($1, $2, $3, $4, $5)",
                (station_id, file_id, location, retrieve_at, now),
            )
        )

    async def latest_firmware_update(self, station_id: str) -> dict[str, Any] | None:
        return await self.db.fetchrow(
            "SELECT * FROM firmware_updates WHERE station_id = $1 ORDER BY id DESC LIMIT 1",
            station_id,
        )

    # -- diagnostics ----------------------------------------------------------------------------
    async def add_diagnostics_request(
        self, station_id: str, token: str, location: str, now: float
    ) -> int:
        (rows,) = await self.db.write(
            Stmt(
                "INSERT INTO diagnostics_requests (station_id, token, location, requested_at) "
                "VALUES ($1, $2, $3, $4) RETURNING id",
                (station_id, token, location, now),
            )
        )
        return int(rows[0]["id"])

    async def answer_diagnostics_request(self, request_id: int, file_name: str | None) -> None:
        await self.db.write(
            Stmt(
                "UPDATE diagnostics_requests SET file_name = $2 WHERE id = $1",
                (request_id, file_name),
            )
        )

    async def diagnostics_request(self, token: str) -> dict[str, Any] | None:
        return await self.db.fetchrow("SELECT * FROM diagnostics_requests WHERE token = $1", token)

    async def latest_diagnostics_request(self, station_id: str) -> dict[str, Any] | None:
        return await self.db.fetchrow(
            "SELECT * FROM diagnostics_requests WHERE station_id = $1 ORDER BY id DESC LIMIT 1",
            station_id,
        )

    async def add_diagnostics_file(
        self, station_id: str, request_id: int, name: str, content: bytes, now: float
    ) -> StoredFile:
        digest, _ = file_digest(content)
        (rows,) = await self.db.write(
            Stmt(
                "INSERT INTO diagnostics_files (station_id, request_id, name, size, sha256, "
                "content, stored_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                (station_id, request_id, name, len(content), digest, content, now),
            )
        )
        file_id = int(rows[0]["id"])
        return StoredFile(str(file_id), name, len(content), digest, "", station_id, now)

    async def diagnostics_files(self, station_id: str, limit: int = 50) -> list[StoredFile]:
        rows = await self.db.fetch(
            "SELECT id, name, size, sha256, '' AS token, station_id, stored_at "
            "FROM diagnostics_files WHERE station_id = $1 ORDER BY id DESC LIMIT $2",
            station_id,
            limit,
        )
        return [StoredFile.from_row(r) for r in rows]

    async def diagnostics_content(self, station_id: str, file_id: int) -> bytes | None:
        value = await self.db.fetchval(
            "SELECT content FROM diagnostics_files WHERE station_id = $1 AND id = $2",
            station_id,
            file_id,
        )
        return bytes(value) if value is not None else None

    # -- status notifications (stored by the OCPP handlers as station events) -------------------
    async def notifications(
        self, station_id: str, kind: str, limit: int = 50
    ) -> list[tuple[str, float]]:
        """(status, received at) of the station's latest notifications of `kind`, newest first."""
        rows = await self.db.fetch(
            "SELECT payload, received_at FROM station_events WHERE station_id = $1 AND kind = $2 "
            "ORDER BY id DESC LIMIT $3",
            station_id,
            kind,
            limit,
        )
        return [
            (str(json.loads(r["payload"]).get("status")), float(r["received_at"])) for r in rows
        ]

    async def stations_with_firmware_updates(self) -> list[str]:
        rows = await self.db.fetch("SELECT DISTINCT station_id FROM firmware_updates ORDER BY 1")
        return [r["station_id"] for r in rows]

    # -- charging profiles set by hand ------------------------------------------------------------
    async def add_manual_profile(self, profile: ManualProfile) -> None:
        p = profile
        await self.db.write(
            Stmt(
                "DELETE FROM manual_profiles WHERE station_id = $1 AND connector_id = $2 "
                "AND profile_id = $3",
                (p.station_id, p.connector_id, p.profile_id),
            ),
            Stmt(
                "INSERT INTO manual_profiles (station_id, connector_id, profile_id, purpose, "
                "stack_level, limit_a, set_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                (p.station_id, p.connector_id, p.profile_id, p.purpose, p.stack_level,
                 p.limit_a, p.set_at),
            ),
        )  # fmt: skip

    async def manual_profiles(self, station_id: str) -> list[ManualProfile]:
        rows = await self.db.fetch(
            "SELECT * FROM manual_profiles WHERE station_id = $1 ORDER BY connector_id, profile_id",
            station_id,
        )
        return [ManualProfile.from_row(r) for r in rows]

    async def remove_manual_profile(self, profile: ManualProfile) -> None:
        await self.db.write(
            Stmt(
                "DELETE FROM manual_profiles WHERE station_id = $1 AND connector_id = $2 "
                "AND profile_id = $3",
                (profile.station_id, profile.connector_id, profile.profile_id),
            )
        )
