"""Persistent smart-charging state: operator caps and each station's proven profile method."""

from __future__ import annotations

from dataclasses import dataclass

from csms.charging.limits import ConnectorKey, OperatorCaps
from csms.storage.database import Database, Stmt

SCOPES = ("site", "station", "connector")


@dataclass(frozen=True, slots=True)
class Cap:
    scope: str
    target_id: str
    connector_id: int
    limit_a: float
    set_at: float


class ChargingRepository:
    """Caps set through the API and methods proven by stations, on either database engine."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def caps(self) -> list[Cap]:
        rows = await self.db.fetch(
            "SELECT scope, target_id, connector_id, limit_a, set_at FROM charging_caps "
            "ORDER BY scope, target_id, connector_id"
        )
        return [
            Cap(
                r["scope"], r["target_id"], int(r["connector_id"]), float(r["limit_a"]), r["set_at"]
            )
            for r in rows
        ]

    async def set_cap(
        self, scope: str, target_id: str, connector_id: int, limit_a: float | None, now: float
    ) -> None:
        """Set (or with `limit_a=None` remove) a cap."""
        assert scope in SCOPES
        if limit_a is None:
            await self.db.write(
                Stmt(
                    "DELETE FROM charging_caps WHERE scope = $1 AND target_id = $2 "
                    "AND connector_id = $3",
                    (scope, target_id, connector_id),
                )
            )
            return
        await self.db.write(
            Stmt(
                "INSERT INTO charging_caps (scope, target_id, connector_id, limit_a, set_at) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, target_id, connector_id) "
                "DO UPDATE SET limit_a = excluded.limit_a, set_at = excluded.set_at",
                (scope, target_id, connector_id, float(limit_a), now),
            )
        )

    async def methods(self) -> dict[str, str]:
        rows = await self.db.fetch("SELECT station_id, method FROM charging_methods")
        return {r["station_id"]: r["method"] for r in rows}

    async def set_method(self, station_id: str, method: str, now: float) -> None:
        await self.db.write(
            Stmt(
                "INSERT INTO charging_methods (station_id, method, proven_at) VALUES ($1, $2, $3) "
                "ON CONFLICT (station_id) DO UPDATE SET method = excluded.method, "
                "proven_at = excluded.proven_at",
                (station_id, method, now),
            )
        )


def caps_for_site(caps: list[Cap], site_id: str, station_ids: set[str]) -> OperatorCaps:
    """The caps that concern one site, as the value the site tree takes (`SiteModel.caps`)."""
    site_a: float | None = None
    station_a: dict[str, float] = {}
    connector_a: dict[ConnectorKey, float] = {}
    for cap in caps:
        if cap.scope == "site" and cap.target_id == site_id:
            site_a = cap.limit_a
        elif cap.scope == "station" and cap.target_id in station_ids:
            station_a[cap.target_id] = cap.limit_a
        elif cap.scope == "connector" and cap.target_id in station_ids:
            connector_a[(cap.target_id, cap.connector_id)] = cap.limit_a
    return OperatorCaps(site_a, station_a, connector_a)
