"""A simulated double station end to end through the real central system (acceptance 2)."""

from __future__ import annotations

import asyncio
from typing import Any

from csms.events import MeterSampled, TransactionStarted, TransactionStopped
from csms.sim.clock import SimClock
from csms.sim.ev import SimEv
from tests.support.fixtures_sim import eventually


async def next_event(queue: asyncio.Queue[Any], match: Any, within_s: float = 10.0) -> Any:
    async with asyncio.timeout(within_s):
        while True:
            event = await queue.get()
            if match(event):
                return event


async def test_double_station_two_evs_meter_values_follow_phase_rotation(
    central_system, sim_stations, sim_clock: SimClock
) -> None:
    cs = central_system
    events = cs.bus.subscribe()
    # Feeder L2L3L1: terminal 1 on grid L2, 2 on L3, 3 on L1. Socket 1 is rotated internally
    # (L3L2L1), so its 1-phase EV loads terminal 3 = grid L1; socket 2's loads terminal 1 = L2.
    (station,) = await sim_stations(
        1,
        cs.ocpp_url,
        prefix="ALF-E2E-",
        sockets=2,
        phase_connected="L2L3L1",
        config={"MeterValueSampleInterval": "1"},
    )
    row = await cs.store.stations.get(station.station_id)
    assert row is not None and row.vendor == "Alfen BV" and row.model == "NG920-61023"

    station.plug_in(1, SimEv(max_current_a=16, phases=1, id_tag="CARD-A"))
    station.plug_in(2, SimEv(max_current_a=13, phases=1, id_tag="CARD-B"))
    tx1 = await station.wait_transaction(1)
    tx2 = await station.wait_transaction(2)
    assert tx1 != tx2
    started = {
        (e.connector_id, e.transaction_id)
        for e in [
            await next_event(events, lambda e: isinstance(e, TransactionStarted)),
            await next_event(events, lambda e: isinstance(e, TransactionStarted)),
        ]
    }
    assert started == {(1, tx1), (2, tx2)}

    sim_clock.advance(60)  # past the probing minute
    sim_clock.tick_now()

    def full_current(tx: int, amps: float) -> Any:
        return lambda e: (
            isinstance(e, MeterSampled)
            and e.transaction_id == tx
            and e.values.get(("Current.Offered", None)) == amps
        )

    sample1 = await next_event(events, full_current(tx1, 32.0))
    assert [sample1.values[("Current.Import", p)] for p in ("L1", "L2", "L3")] == [16.0, 0.0, 0.0]
    sample2 = await next_event(events, full_current(tx2, 32.0))
    assert [sample2.values[("Current.Import", p)] for p in ("L1", "L2", "L3")] == [0.0, 13.0, 0.0]
    assert sample2.values[("Power.Active.Import", None)] == 13 * 230

    # What the server stored follows the same rotation.
    stored = await cs.store.transactions.meter_values(station.station_id, tx1)
    phases = {r.phase for r in stored if r.measurand == "Current.Import" and r.numeric}
    assert phases == {"L1"}

    station.unplug(1)
    station.unplug(2)
    stopped = {
        (await next_event(events, lambda e: isinstance(e, TransactionStopped))).transaction_id
        for _ in range(2)
    }
    assert stopped == {tx1, tx2}
    rows = {r.id: r for r in await cs.store.transactions.latest(station.station_id)}
    assert rows[tx1].energy_wh > 0 and rows[tx2].energy_wh > 0
    assert rows[tx1].stop_reason == "EVDisconnected"
    await eventually(lambda: station.status(1) == station.status(2) == "Available")
