"""Stored departures and phases: idTag defaults (with the phases learnt) and session plans."""

from __future__ import annotations

from typing import Any

from csms.charging.sessions import SessionPlan, TagDefaults
from csms.storage.database import Database, Stmt


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


class PlanRepository:
    """`idtag_charging_defaults` and `charging_session_plans`, on either database engine."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def defaults(self) -> list[TagDefaults]:
        rows = await self.db.fetch(
            "SELECT id_tag, departure, timezone, energy_kwh, phases, learned_phases, updated_at "
            "FROM idtag_charging_defaults ORDER BY id_tag"
        )
        return [
            TagDefaults(
                r["id_tag"],
                r["departure"],
                r["timezone"],
                _opt_float(r["energy_kwh"]),
                _opt_int(r["phases"]),
                _opt_int(r["learned_phases"]),
                float(r["updated_at"]),
            )
            for r in rows
        ]

    async def set_defaults(self, d: TagDefaults) -> None:
        """Store what was told for an idTag (keeps the phases learnt)."""
        await self.db.write(
            Stmt(
                "INSERT INTO idtag_charging_defaults (id_tag, departure, timezone, energy_kwh, "
                "phases, learned_phases, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                "ON CONFLICT (id_tag) DO UPDATE SET departure = excluded.departure, "
                "timezone = excluded.timezone, energy_kwh = excluded.energy_kwh, "
                "phases = excluded.phases, updated_at = excluded.updated_at",
                (
                    d.id_tag,
                    d.departure,
                    d.timezone,
                    d.energy_kwh,
                    d.phases,
                    d.learned_phases,
                    d.updated_at,
                ),
            )
        )

    async def learn_phases(self, id_tag: str, phases: int, now: float) -> None:
        """The phase count an idTag's EV was measured on (keeps what was told)."""
        await self.db.write(
            Stmt(
                "INSERT INTO idtag_charging_defaults (id_tag, timezone, learned_phases, "
                "updated_at) VALUES ($1, 'UTC', $2, $3) ON CONFLICT (id_tag) DO UPDATE SET "
                "learned_phases = excluded.learned_phases, updated_at = excluded.updated_at",
                (id_tag, phases, now),
            )
        )

    async def session_plans(self, transaction_ids: list[int]) -> dict[int, SessionPlan]:
        """The plans of these transactions (the running ones: a few per station)."""
        out = {}
        for tx in transaction_ids:
            r = await self.db.fetchrow(
                "SELECT departure_at, energy_kwh, phases FROM charging_session_plans "
                "WHERE transaction_id = $1",
                tx,
            )
            if r is not None:
                out[tx] = SessionPlan(
                    _opt_float(r["departure_at"]),
                    _opt_float(r["energy_kwh"]),
                    _opt_int(r["phases"]),
                )
        return out

    async def set_session_plan(
        self, transaction_id: int, station_id: str, connector_id: int, plan: SessionPlan, now: float
    ) -> None:
        await self.db.write(
            Stmt(
                "INSERT INTO charging_session_plans (transaction_id, station_id, connector_id, "
                "departure_at, energy_kwh, phases, set_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                "ON CONFLICT (transaction_id) DO UPDATE SET departure_at = excluded.departure_at, "
                "energy_kwh = excluded.energy_kwh, phases = excluded.phases, "
                "set_at = excluded.set_at",
                (
                    transaction_id,
                    station_id,
                    connector_id,
                    plan.departure_at,
                    plan.energy_kwh,
                    plan.phases,
                    now,
                ),
            )
        )
