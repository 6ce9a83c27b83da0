"""Energy per id tag, per station or per period (day, week, month), computed in the database.

A transaction counts once it is closed (by its StopTransaction or by an operator), in the
period in which it started (UTC). Its energy is meterStop − meterStart. When the register went
backwards during the session (Alfen resets its meter register, e.g. at a firmware update or a
meter swap), that difference is meaningless: the energy is then the highest reading stored
for the transaction above meterStart (what was charged before the reset) plus meterStop
(what was charged after it). The rows survive restarts, so the report does too.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from csms.storage.database import Database

Grouping = Literal["tag", "station", "day", "week", "month"]
GROUPINGS: tuple[str, ...] = ("tag", "station", "day", "week", "month")

_BEFORE_RESET = "(SELECT MAX(m.energy_wh) FROM meter_values m WHERE m.transaction_id = t.id)"
ENERGY_WH = (
    "CASE WHEN t.meter_stop >= t.meter_start THEN t.meter_stop - t.meter_start "
    f"WHEN {_BEFORE_RESET} > t.meter_start THEN {_BEFORE_RESET} - t.meter_start + t.meter_stop "
    "ELSE t.meter_stop END"
)

_BUCKETS = {
    "sqlite": {
        "day": "strftime('%Y-%m-%d', t.started_at, 'unixepoch')",
        "week": "date(t.started_at, 'unixepoch', 'weekday 0', '-6 days')",
        "month": "strftime('%Y-%m', t.started_at, 'unixepoch')",
    },
    "postgres": {
        "day": "to_char(to_timestamp(t.started_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        "week": "to_char(date_trunc('week', to_timestamp(t.started_at) AT TIME ZONE 'UTC'), "
        "'YYYY-MM-DD')",
        "month": "to_char(to_timestamp(t.started_at) AT TIME ZONE 'UTC', 'YYYY-MM')",
    },
}


@dataclass(frozen=True, slots=True)
class EnergyRow:
    """One line of the report: `key` is the tag, the station, or the period's first day
    (week: its Monday) / month (YYYY-MM)."""

    key: str
    sessions: int
    energy_wh: float

    @property
    def energy_kwh(self) -> float:
        return round(self.energy_wh / 1000.0, 3)


def _key(engine: str, by: str) -> str:
    if by == "tag":
        return "t.id_tag"
    if by == "station":
        return "t.station_id"
    return _BUCKETS[engine][by]


async def energy_report(
    db: Database, by: Grouping, since: float | None = None, until: float | None = None
) -> list[EnergyRow]:
    """Energy of closed transactions started in [since, until), grouped `by`, sorted by key."""
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}, not {by!r}")
    where, args = ["t.meter_stop IS NOT NULL"], []
    if since is not None:
        args.append(since)
        where.append(f"t.started_at >= ${len(args)}")
    if until is not None:
        args.append(until)
        where.append(f"t.started_at < ${len(args)}")
    key = _key(db.engine, by)
    rows = await db.fetch(
        f"SELECT {key} AS key, COUNT(*) AS sessions, SUM({ENERGY_WH}) AS energy_wh "
        f"FROM transactions t WHERE {' AND '.join(where)} GROUP BY {key} ORDER BY {key}",
        *args,
    )
    return [EnergyRow(str(r["key"]), int(r["sessions"]), float(r["energy_wh"])) for r in rows]


def to_csv(by: str, rows: Sequence[EnergyRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([by, "sessions", "energy_kwh"])
    for row in rows:
        writer.writerow([row.key, row.sessions, f"{row.energy_kwh:.3f}"])
    return out.getvalue()
