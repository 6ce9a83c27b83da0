"""Acceptance 3 of issue 12: sessions over two months give the expected kWh per tag, station
and month on both engines, as JSON (API) and as CSV (CLI); a meter-register reset during a
session and an operator-closed session count correctly, and so does a restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from csms.app import CentralSystem, running_central_system
from csms.cli import main
from csms.storage.transactions import MeterValueRow, StartRequest, StopRequest


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# (station, tag, start, meter_start, meter_stop): Wh registers.
SESSIONS = [
    ("S1", "ANNA", "2026-01-05T08:00:00", 1000, 11000),  # 10 kWh, January, week of Jan 5
    ("S1", "BERT", "2026-01-20T18:00:00", 11000, 18500),  # 7.5 kWh
    ("S2", "ANNA", "2026-01-31T23:30:00", 500, 2500),  # 2 kWh, still January (UTC)
    ("S2", "BERT", "2026-02-01T00:10:00", 2500, 6500),  # 4 kWh, February
    ("S1", "ANNA", "2026-02-14T09:00:00", 18500, 21000),  # 2.5 kWh
]


async def fill(cs: CentralSystem) -> None:
    tx = cs.store.transactions
    for station, tag, start, meter_start, meter_stop in SESSIONS:
        at = epoch(start)
        tx_id, _ = await tx.start(StartRequest(station, 1, tag, meter_start, start, at), at)
        await tx.stop(StopRequest(station, tx_id, meter_stop, start, at + 3600, None, None), at)
    # Alfen reset its register mid-session: 3 kWh before (register 30000 → 33000), 1 kWh after.
    at = epoch("2026-02-20T10:00:00")
    tx_id, _ = await tx.start(StartRequest("S2", 1, "CARL", 30000, "2026-02-20T10:00:00", at), at)
    register = '[{"value": "33.0", "measurand": "Energy.Active.Import.Register", "unit": "kWh"}]'
    await tx.add_meter_values(
        [MeterValueRow("S2", 1, tx_id, "2026-02-20T10:30:00", register, 33_000.0, at)]
    )
    await tx.stop(StopRequest("S2", tx_id, 1000, "x", at + 7200, "Other", None), at)
    # Left open, then closed by an operator at its latest reading: 1.5 kWh.
    at = epoch("2026-02-25T07:00:00")
    tx_id, _ = await tx.start(StartRequest("S1", 2, "CARL", 0, "2026-02-25T07:00:00", at), at)
    await tx.close_by_operator(tx_id, 1500, "station replaced", at + 60)
    # Open and a session outside the range do not count.
    at = epoch("2026-02-26T07:00:00")
    await tx.start(StartRequest("S1", 1, "ANNA", 21000, "2026-02-26T07:00:00", at), at)
    at = epoch("2026-03-02T07:00:00")
    tx_id, _ = await tx.start(StartRequest("S1", 1, "ANNA", 21000, "2026-03-02T07:00:00", at), at)
    await tx.stop(StopRequest("S1", tx_id, 99000, "x", at + 60, None, None), at)


EXPECTED = {
    "tag": [("ANNA", 3, 14.5), ("BERT", 2, 11.5), ("CARL", 2, 5.5)],
    "station": [("S1", 4, 21.5), ("S2", 3, 10.0)],
    "month": [("2026-01", 3, 19.5), ("2026-02", 4, 12.0)],
}
RANGE = {"from": "2026-01-01", "to": "2026-03-01"}


async def test_energy_report_on_both_engines(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.databases import make_settings

    settings = make_settings(database_url)
    async with running_central_system(settings) as cs:
        await fill(cs)
    # After a restart, from the stored rows.
    async with (
        running_central_system(settings) as cs,
        httpx.AsyncClient(base_url=cs.api_url, timeout=60) as client,
    ):
        for by, expected in EXPECTED.items():
            answer = await client.get("/api/v1/reports/energy", params={"by": by, **RANGE})
            assert answer.status_code == 200, answer.text
            got = [(r["key"], r["sessions"], r["energy_kwh"]) for r in answer.json()]
            assert got == expected, by
        weeks = await client.get("/api/v1/reports/energy", params={"by": "week", **RANGE})
        assert weeks.json()[0] == {"key": "2026-01-05", "sessions": 1, "energy_kwh": 10.0}
        days = await client.get("/api/v1/reports/energy", params={"by": "day", **RANGE})
        assert [d["key"] for d in days.json()][:3] == ["2026-01-05", "2026-01-20", "2026-01-31"]
        bad = await client.get("/api/v1/reports/energy", params={"by": "tag", "from": "soon"})
        assert bad.status_code == 422 and "ISO 8601" in bad.json()["detail"]

        argv = ["report", "energy", "--by", "tag", "--from", RANGE["from"], "--to", RANGE["to"]]
        code = await asyncio.to_thread(main, [*argv, "--csv", "--api", cs.api_url])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert out.splitlines() == [
            "tag,sessions,energy_kwh",
            "ANNA,3,14.500",
            "BERT,2,11.500",
            "CARL,2,5.500",
        ]
        code = await asyncio.to_thread(main, [*argv[:3], "month", *argv[4:], "--api", cs.api_url])
        out, _ = capsys.readouterr()
        assert code == 0 and "2026-02" in out and "12.0" in out
