"""Acceptance 5 of issue 12: `/metrics` exposes the new series; a test scrapes and parses them
while a simulated station is connected and charging."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from csms.app import running_central_system
from csms.sim.ev import SimEv
from tests.support.databases import make_settings

IN_SESSION = ("Preparing", "Charging", "SuspendedEV", "SuspendedEVSE")
GET_CONFIGURATION = (("action", "GetConfiguration"),)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_scraped_and_parsed(tmp_path: Path, sim_stations: Any) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/csms.sqlite3", alerts={"check_interval_s": 0.2})
    async with running_central_system(settings) as cs:
        (station,) = await sim_stations(1, cs.ocpp_url)
        station.plug_in(1, SimEv(id_tag="CARD"))
        await station.wait_transaction(1, within_s=30)
        async with httpx.AsyncClient(base_url=cs.api_url, timeout=60) as client:

            async def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
                return samples((await client.get("/metrics")).text)

            got: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

            async def charging_seen() -> bool:
                nonlocal got
                got = await scrape()
                busy = sum(got.get(("csms_connectors", (("status", s),)), 0) for s in IN_SESSION)
                # The connect-time GetConfiguration is timed when its answer has come back.
                answered = got.get(("csms_ocpp_call_seconds_count", GET_CONFIGURATION), 0)
                return got.get(("csms_transactions_active", ()), 0) >= 1 and busy >= 1 and answered

            async with asyncio.timeout(60):
                while not await charging_seen():  # noqa: ASYNC110 - polling the API
                    await asyncio.sleep(0.2)

    assert got[("csms_stations", (("state", "online"),))] == 1
    assert got[("csms_stations", (("state", "offline"),))] == 0
    connectors = {labels[0][1]: v for (name, labels), v in got.items() if name == "csms_connectors"}
    # Connector 0 and the socket, which is in the session.
    assert sum(connectors.values()) == 2
    assert sum(connectors[s] for s in IN_SESSION) == 1
    assert ("csms_energy_delivered_wh", ()) in got
    assert got[("csms_alerts_active", (("kind", "station-offline"),))] == 0
    boot = (("action", "BootNotification"),)
    assert got[("csms_ocpp_messages_received_total", boot)] >= 1
    assert got[("csms_ocpp_message_handling_seconds_count", boot)] >= 1
    start = (("action", "StartTransaction"),)
    assert got[("csms_ocpp_messages_received_total", start)] >= 1
    # Configuration management reads the station at connect: GetConfiguration was sent.
    sent = GET_CONFIGURATION
    assert got[("csms_ocpp_calls_sent_total", sent)] >= 1
    assert got[("csms_ocpp_call_seconds_count", sent)] >= 1
    assert any(name == "csms_ocpp_call_seconds_bucket" for name, _ in got)
