"""Table tests of the control loop's pure parts: site model, EV estimate, targets, dispatcher
outcomes and the charging store on both database engines."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from balancing import BalancerState, GridReading, LimitSource, allocate, phase_rotation
from csms.charging.dispatcher import Dispatcher
from csms.charging.limits import LocalLimits, OperatorCaps
from csms.charging.model import SiteModel, phases_from_power
from csms.charging.planner import DeliveryPlanner, PlannerSettings, Target
from csms.charging.repository import ChargingRepository, caps_for_site
from csms.ocpp.errors import CallErrorReceived, CallTimeout, StationOffline
from csms.settings import SiteSettings

A, B, C = "ALF-0001", "ALF-0002", "ALF-0003"


def model(*stations: tuple[str, str], **site: object) -> SiteModel:
    settings = SiteSettings.model_validate(
        {"id": "s", "stations": [{"id": s, "phase_rotation": r} for s, r in stations]} | site
    )
    return SiteModel(settings)


def charging(m: SiteModel, station: str, connector: int, tx: int, grid=None, at=0.0) -> None:
    m.status(station, connector, "Charging")
    m.started(station, connector, tx, at)
    if grid is not None:
        values = {("Current.Import", f"L{p + 1}"): grid[p] for p in range(3)}
        m.sampled(station, connector, values, received_at=at + 10)


L1L2L3 = phase_rotation("L1L2L3")


def test_limit_history_records_changes_in_order():
    m = model((A, "L1L2L3"))
    charging(m, A, 1, 1)
    m.note_limit((A, 1), 0.0, 6.0)
    m.note_limit((A, 1), 0.0, 6.0)  # unchanged: nothing new
    m.note_limit((A, 1), 10.0, 12.0)
    m.note_limit((A, 1), 0.0, 6.0)  # the 12 A profile ended: back to 6 A, from now on
    assert m.connectors[(A, 1)].limits == [(0.0, 6.0), (10.0, 12.0), (10.0, 6.0)]
    assert m.limit_at((A, 1), 5.0) == (0.0, 6.0) and m.limit_at((A, 1), -1.0) is None


@pytest.mark.parametrize(
    ("name", "sockets", "measured"),
    [
        # L3L1L2 feeder: EV phase 1 → L3 on a single.
        ("single", 1, (9.0, 0.0, 0.0)),
        # Socket 1 of a double is wired L3L2L1 inside: EV phase 3 → station L1 → grid L3.
        ("double, socket 1", 2, (0.0, 0.0, 9.0)),
    ],
)
def test_sessions_undo_the_rotation_and_skip_idle_sockets(name, sockets, measured):
    m = model((A, "L3L1L2"))
    charging(m, A, 1, 7, (0.0, 0.0, 9.0))  # a one-phase EV seen on grid L3
    if sockets == 2:
        m.status(A, 2, "Available")
    site = m.balancing_site()
    [session] = m.sessions(site, None)
    assert session.key == (A, 1) and session.measured_a == measured, name


def test_site_from_snapshot_limits_and_declared_connectors():
    m = model((A, "L1L2L3"), (B, "L2"), phases=3)
    m.local[A] = LocalLimits(station_max_a=20, connector_max_a={1: 16, 2: 13})
    m.declared_connectors[A] = 2
    site = m.balancing_site()
    station = site.station(A)
    assert station.max_current_a == 20 and [s.max_current_a for s in station.sockets] == [16, 13]
    assert site.station(B).max_current_a == 32 and len(site.station(B).sockets) == 1
    assert m.socket_count() == 3
    # 6 A over 3 sockets would be 2 A each (every EV paused): the first socket gets it whole.
    m.declared_connectors[B] = 1
    assert m.safe_defaults() == {A: {1: 6.0, 2: 0.0}, B: {1: 0.0}}


def test_transactions_follow_start_and_stop():
    m = model((A, "L1L2L3"))
    charging(m, A, 1, 5)
    assert m.stopped(5) == (A, 1) and m.connectors[(A, 1)].transaction_id is None
    assert m.stopped(99) is None


def test_meter_lost_station_gets_its_safe_current():
    m = model((A, "L1L2L3"))
    m.local[A] = LocalLimits(safe_max_a=8)
    charging(m, A, 1, 1)
    charging(m, A, 2, 2)
    m.status(A, 0, "Faulted", "210", "Modbus TCP/IP lost, in safe mode max 8.0A")
    assert m.meter_lost == {A}
    reading = GridReading(100.0, (2.0, 2.0, 2.0))
    site = m.balancing_site()
    instant = dataclasses.replace(site, ramp_a_per_s=None)
    allocation = allocate(instant, reading, m.sessions(site, 100.0), BalancerState(), 100.0)
    limits = m.limits(allocation)
    # The tree holds the station's 8 A safe current as its maximum: one EV charges while the
    # other waits for its turn, instead of two EVs offered 4 A each and neither charging …
    assert {k: (v.value_a, v.source) for k, v in limits.items()} == {
        (A, 1): (0.0, "alternating pause"),
        (A, 2): (8.0, "station safe current"),
    }
    # … and the prediction shows that the station splits it over both sockets in use (4 A each)
    # whatever we send, until it sees the paused socket draw nothing.
    assert {k: (v.predicted.value_a, v.predicted.source) for k, v in limits.items()} == {
        (A, 1): (0.0, "alternating pause"),
        (A, 2): (4.0, "station safe current"),
    }
    m.status(A, 0, "Available")
    assert m.meter_lost == set()


@pytest.mark.parametrize(
    ("name", "grid", "source", "urgent"),
    [
        ("grid below the limit, grid binds", (20.0, 20.0, 20.0), "grid phase", False),
        ("grid over the limit", (25.0, 20.0, 20.0), "grid phase", True),
        ("a hard limit binds", (20.0, 20.0, 20.0), "station max", True),
    ],
)
def test_targets_mark_urgent_decreases(name, grid, source, urgent):
    from csms.charging.limits import ConnectorLimit

    m = model((A, "L1L2L3"))
    charging(m, A, 1, 3)
    site = m.balancing_site()
    reading = GridReading(0.0, grid)
    allocation = allocate(site, reading, m.sessions(site, 0.0), BalancerState(), 0.0)
    limits = {(A, 1): ConnectorLimit(8.0, LimitSource(source), ())}
    [target] = m.targets(limits, allocation, reading)
    assert (target.transaction_id, target.urgent) == (3, urgent), name


@pytest.mark.parametrize(
    ("name", "raised", "status"),
    [
        ("call error code", CallErrorReceived("NotSupported", "no", {}), "NotSupported"),
        ("timeout", CallTimeout(A, "SetChargingProfile", 1), "Timeout"),
        ("offline", StationOffline(A), "Offline"),
        ("a bug is contained", RuntimeError("boom"), "Error"),
    ],
)
async def test_dispatcher_maps_failures_to_outcomes(name, raised, status):
    planner = DeliveryPlanner(PlannerSettings(backoff_s=60))
    planner.configure_station(A, safe_limit_a=6, method="TxProfile")
    seen: list[str] = []

    async def call(station_id, action, payload):
        if payload.get("connectorId") == 0:
            return {"status": "Accepted"}
        raise raised

    dispatcher = Dispatcher(planner, call, lambda s: True, lambda: 1000.0,
                            on_result=lambda c, s, at: seen.append(s))  # fmt: skip
    planner.set_targets([Target(A, 1, 16.0, "grid", 1)])
    task = asyncio.create_task(dispatcher.run())
    try:
        async with asyncio.timeout(5):
            while len(seen) < 2:  # noqa: ASYNC110 - polling the hook's list
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert seen == ["Accepted", status], name
    assert planner.station(A).slots[(1, "TxProfile")].last_status == status


async def test_store_keeps_caps_and_methods(db):
    store = ChargingRepository(db)
    await store.set_cap("site", "home", 0, 20, 1.0)
    await store.set_cap("station", A, 0, 16, 1.0)
    await store.set_cap("connector", A, 2, 10, 1.0)
    await store.set_cap("connector", A, 2, 9, 2.0)  # replaces
    await store.set_cap("station", "ELSEWHERE", 0, 5, 1.0)
    caps = caps_for_site(await store.caps(), "home", {A})
    assert caps == OperatorCaps(20.0, {A: 16.0}, {(A, 2): 9.0})
    await store.set_cap("site", "home", 0, None, 3.0)
    assert caps_for_site(await store.caps(), "home", {A}).site_a is None
    await store.set_method(A, "TxProfile", 1.0)
    await store.set_method(A, "TxDefaultProfile", 2.0)
    assert await store.methods() == {A: "TxDefaultProfile"}


def test_small_cuts_are_urgent_when_what_stations_apply_would_overload_the_grid():
    # The meter sees the household only: at 11.8 A the EVs have 25 − 1 − 11.8 = 12.2 A, 6.1 A
    # each. The stations still apply 7 A each (from a lower household load): a 0.9 A cut each is
    # within the deadband, but skipping both would leave the grid at 11.8 + 14 = 25.8 A, over
    # its 25 A limit for as long as the household stays — the meter reading alone never shows it.
    m = model((A, "L1L2L3"), (B, "L1L2L3"), meter_includes_ev=False)
    charging(m, A, 1, 1)
    charging(m, B, 1, 2)
    site = m.balancing_site()
    state = BalancerState()
    for now in range(10):  # ramped up to 7 A each with 10 A household
        reading = GridReading(float(now), (10.0, 10.0, 10.0))
        state = allocate(site, reading, m.sessions(site, now), state, float(now)).state
    reading = GridReading(10.0, (11.8, 11.8, 11.8))
    allocation = allocate(site, reading, m.sessions(site, 10.0), state, 10.0)
    limits = m.limits(allocation)
    assert [round(limit.value_a, 1) for limit in limits.values()] == [6.1, 6.1]
    applied = {(A, 1): 7.0, (B, 1): 7.0}
    assert all(t.urgent for t in m.targets(limits, allocation, reading, applied))
    # Applying 6.3 A each (24.4 A in all, within half the margin): the deadband may skip it.
    applied = {(A, 1): 6.3, (B, 1): 6.3}
    assert not any(t.urgent for t in m.targets(limits, allocation, reading, applied))


@pytest.mark.parametrize(
    ("name", "reading_a", "urgent"),
    [
        # Sampled at 10 A, raised to 11 A at t=11, the meter at t=12 already shows 11 A each
        # (2 A household): the household looks like 4 A (the reading less the samples) and the
        # allocation drops to 10 A each. Adding the 11 A applied to that 4 A says 26 A, but the
        # meter shows 24 A: not urgent (the deadband and the flash bound apply to the cut).
        ("a raise since the last sample", 24.0, False),
        # The meter itself above the limit less half the margin: urgent whatever the samples.
        ("the meter over the limit", 24.6, True),
    ],
)
def test_a_raise_since_the_ev_sample_does_not_make_cuts_urgent_when_the_meter_sees_the_evs(
    name, reading_a, urgent
):
    m = model((A, "L1L2L3"), (B, "L1L2L3"), meter={"type": "simulated"}, ramp_a_per_s=100)
    for station, tx in ((A, 1), (B, 2)):
        charging(m, station, 1, tx, grid=(10.0, 10.0, 10.0), at=0.0)
        m.note_limit((station, 1), 0.0, 10.0)
        m.note_limit((station, 1), 11.0, 11.0)
    site = m.balancing_site()
    reading = GridReading(12.0, (reading_a, reading_a, reading_a))
    state = BalancerState()
    for now in range(12):  # the ramp from the start of the sessions
        earlier = GridReading(float(now), reading.current_a)
        state = allocate(site, earlier, m.sessions(site, float(now)), state, float(now)).state
    allocation = allocate(site, reading, m.sessions(site, 12.0), state, 12.0)
    limits = m.limits(allocation)
    applied = {(A, 1): 11.0, (B, 1): 11.0}
    targets = m.targets(limits, allocation, reading, applied)
    assert all(t.limit_a <= 10.0 for t in targets), name  # a cut of at least 1 A is wanted
    assert [t.urgent for t in targets] == [urgent, urgent], name


def unphased(amps: float, power_w: float | None = None) -> dict[tuple[str, str | None], float]:
    values = {("Current.Import", None): amps}
    if power_w is not None:
        values[("Power.Active.Import", None)] = power_w
    return values


@pytest.mark.parametrize(
    ("name", "rotation", "meter_includes_ev", "values", "expected"),
    [
        ("3-phase EV by its power", "L1L2L3", True, unphased(10, 6900), (10.0, 10.0, 10.0)),
        ("1-phase EV on the feeder's first phase", "L2L3L1", True, unphased(16, 3680),
         (0.0, 16.0, 0.0)),
        ("2-phase EV follows the rotation", "L3L1L2", True, unphased(10, 4600),
         (10.0, 0.0, 10.0)),
        ("power factor and voltage within the doubt", "L1L2L3", True, unphased(10, 6400),
         (10.0, 10.0, 10.0)),
        ("no power, meter includes EVs: one phase (less EV draw taken out)", "L3L1L2", True,
         unphased(10), (0.0, 0.0, 10.0)),
        ("no power, meter leaves EVs out: every phase (more EV load)", "L3L1L2", False,
         unphased(10), (10.0, 10.0, 10.0)),
        ("a ratio between two counts tells nothing", "L1L2L3", True, unphased(10, 3450),
         (10.0, 0.0, 0.0)),
        ("power in kW tells nothing", "L1L2L3", False, unphased(10, 6.9), (10.0, 10.0, 10.0)),
        ("too little current to tell", "L1L2L3", True, unphased(0.2, 3000), (0.2, 0.0, 0.0)),
        ("voltage from the sample", "L1L2L3", True,
         unphased(10, 2 * 250 * 10) | {("Voltage", "L1-N"): 250.0}, (10.0, 10.0, 0.0)),
        ("phased values win", "L1L2L3", True,
         unphased(10, 6900) | {("Current.Import", f"L{p}"): 4.0 * p for p in (1, 2, 3)},
         (4.0, 8.0, 12.0)),
    ],
)  # fmt: skip
def test_unphased_current_import(name, rotation, meter_includes_ev, values, expected):
    m = model((A, rotation), meter_includes_ev=meter_includes_ev)
    charging(m, A, 1, 1)
    m.sampled(A, 1, values, received_at=10.0)
    assert m.connectors[(A, 1)].measured_grid_a == expected, name


def test_unphased_phase_count_holds_for_the_session_only():
    m = model((A, "L1L2L3"))
    charging(m, A, 1, 1)
    m.sampled(A, 1, unphased(10, 6900), received_at=10.0)
    m.sampled(A, 1, unphased(12), received_at=20.0)  # no power this time: still 3 phases
    assert m.connectors[(A, 1)].measured_grid_a == (12.0, 12.0, 12.0)
    m.stopped(1)
    m.started(A, 1, 2, 30.0)
    m.sampled(A, 1, unphased(12), received_at=40.0)  # another EV: unknown again
    assert m.connectors[(A, 1)].measured_grid_a == (12.0, 0.0, 0.0)


def test_unphased_current_uses_the_sockets_internal_wiring():
    m = model((A, "L1L2L3"))
    m.declared_connectors[A] = 2
    charging(m, A, 1, 1)
    m.sampled(A, 1, unphased(16, 3680), received_at=10.0)
    grid = m.connectors[(A, 1)].measured_grid_a
    first = m.socket_rotation((A, 1)).grid_phase(1)
    assert grid == tuple(16.0 if p == first else 0.0 for p in (1, 2, 3))
    [session] = m.sessions(m.balancing_site(), None)
    assert session.measured_a == (16.0, 0.0, 0.0)  # on EV phase 1, as the balancer sees it


@pytest.mark.parametrize(
    ("amps", "power_w", "voltage_v", "expected"),
    [(16, 3680, 230, 1), (16, 7360, 230, 2), (16, 11040, 230, 3), (16, 11040 * 1.08, 230, 3),
     (16, 11040 * 1.2, 230, None),
     (16, 5520, 230, None), (16, None, 230, None), (0.1, 100, 230, None), (16, -3680, 230, None),
     (16, 11.04, 230, None), (16, 3680, 0, None)],
)  # fmt: skip
def test_phases_from_power(amps, power_w, voltage_v, expected):
    assert phases_from_power(amps, power_w, voltage_v) == expected
