"""The simulated station's electrics: phase rotation, socket sharing, probing, pausing, energy."""

from __future__ import annotations

import pytest

from csms.sim.configuration import StationConfiguration
from csms.sim.ev import SimEv
from csms.sim.model import Sample, StationModel, StatusChanged, sampled_values
from csms.sim.phases import feeder_phases, grid_currents, socket_phases
from csms.sim.sharing import SocketDemand, share

T0 = 1_699_920_000.0


@pytest.mark.parametrize(
    ("rotation", "socket", "sockets", "expected"),
    [
        ("L1L2L3", 1, 1, (0, 1, 2)),
        ("L3L1L2", 1, 1, (2, 0, 1)),
        ("L1L2L3", 1, 2, (2, 1, 0)),  # internal rotation of socket 1 on a double: L3L2L1
        ("L1L2L3", 2, 2, (0, 1, 2)),
        ("L2L3L1", 1, 2, (0, 2, 1)),  # feeder rotation and internal rotation combined
        ("L2", 1, 2, (1,)),  # a single-phase station
    ],
)
def test_socket_phases(rotation, socket, sockets, expected) -> None:
    assert socket_phases(rotation, socket, sockets) == expected


def test_feeder_phases_rejects_unknown_rotation() -> None:
    assert feeder_phases("L3") == (2,)
    with pytest.raises(ValueError, match="Phase-Connected"):
        feeder_phases("L4L5L6")


def test_grid_currents_of_one_and_three_phase_evs() -> None:
    assert grid_currents((2, 1, 0), 1, 16) == (0, 0, 16)
    assert grid_currents((0, 1, 2), 3, 10) == (10, 10, 10)
    assert grid_currents((1,), 3, 10) == (0, 10, 0)  # a 3-phase EV on a 1-phase station


# Guide 3.1.1.1: 3-phase double station on one feeder, 25 A available per phase.
S1, S2 = socket_phases("L1L2L3", 1, 2), socket_phases("L1L2L3", 2, 2)
SHARE_CASES = [
    ("E: 1-phase + 1-phase use different phases", 25, [(1, S1[:1]), (2, S2[:1])], (25, 25)),
    ("F: 2-phase + 1-phase", 25, [(1, S1[:2]), (2, S2[:1])], (25, 25)),
    ("G: 2-phase + 2-phase share L2", 25, [(1, S1[:2]), (2, S2[:2])], (12.5, 12.5)),
    ("H: 3-phase + 1-phase", 25, [(1, S1), (2, S2[:1])], (12.5, 12.5)),
    ("H: 3-phase + 3-phase", 25, [(1, S1), (2, S2)], (12.5, 12.5)),
    ("A: single-phase station, both on L1", 25, [(1, (0,)), (2, (0,))], (12.5, 12.5)),
    ("one EV alone gets everything", 25, [(2, S2)], (0, 25)),
    ("below 6 A the lowest socket id pauses", 10, [(1, S1), (2, S2)], (0, 10)),
]


@pytest.mark.parametrize(
    ("budget", "sockets", "expected"),
    [case[1:] for case in SHARE_CASES],
    ids=[case[0] for case in SHARE_CASES],
)
def test_standard_load_balancing(budget, sockets, expected) -> None:
    demands = [SocketDemand(cid, phases, cap_a=32, wants_a=32) for cid, phases in sockets]
    offered = share(budget, demands)
    assert tuple(offered.get(cid, 0) for cid in (1, 2)) == pytest.approx(expected)


def test_unused_share_goes_to_the_other_socket() -> None:
    demands = [
        SocketDemand(1, S1, cap_a=32, wants_a=8),  # this EV takes only 8 A
        SocketDemand(2, S2, cap_a=32, wants_a=32),
    ]
    offered = share(25, demands)
    assert offered[2] == pytest.approx(17)
    assert offered[1] == pytest.approx(8)


def test_socket_cap_and_14a_minimum() -> None:
    demands = [
        SocketDemand(1, S1, cap_a=10, wants_a=32, min_a=14),  # needs 14 A, capped at 10
        SocketDemand(2, S2, cap_a=12, wants_a=32),
    ]
    assert share(32, demands) == {1: 0, 2: 12}


def model(sockets: int = 1, **config: str) -> StationModel:
    store = StationConfiguration(sockets, {"MeterValueSampleInterval": "60", **config})
    m = StationModel(sockets=sockets, config=store, now=T0, initial_meter_wh=1000)
    m.step(T0)
    return m


def start(m: StationModel, connector: int, ev: SimEv, tx: int) -> None:
    m.plug_in(connector, ev)
    m.begin_session(connector, "TAG")
    m.transaction_started(connector, tx)


def test_probing_minute_then_full_current() -> None:
    m = model()
    start(m, 1, SimEv(max_current_a=32, phases=3), tx=5)
    m.step(T0 + 1)
    c = m.connector(1)
    assert (c.offered_a, c.status) == (14.0, "Charging")  # Chameleon-MinCurrent
    m.step(T0 + 60)
    assert c.offered_a == 32.0 and c.grid_a == (32.0, 32.0, 32.0)


def test_limits_combine_to_the_lowest() -> None:
    m = model(**{"Station-MaxCurrent": "20", "Connector1-MaxCurrent": "16"})
    start(m, 1, SimEv(max_current_a=32, phases=1), tx=5)
    m.step(T0 + 61)
    assert m.connector(1).offered_a == 16  # connector max
    m.set_profile(0, {"chargingProfileId": 1, "stackLevel": 0,
                      "chargingProfilePurpose": "ChargePointMaxProfile",
                      "chargingProfileKind": "Relative",
                      "chargingSchedule": {"chargingRateUnit": "A",
                                           "chargingSchedulePeriod": [{"startPeriod": 0,
                                                                       "limit": 11}]}})  # fmt: skip
    m.step(T0 + 62)
    assert m.connector(1).offered_a == 11  # ChargePointMaxProfile
    assert m.connector(1).current_a == 11


def tx_profile(limit: float, phases: int | None = None) -> dict:
    period: dict = {"startPeriod": 0, "limit": limit}
    if phases:
        period["numberPhases"] = phases
    return {
        "chargingProfileId": 9,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [period]},
    }


def test_below_6a_pauses_and_reports_suspended_evse() -> None:
    m = model()
    start(m, 1, SimEv(max_current_a=16), tx=5)
    assert m.set_profile(1, tx_profile(5.0)).accepted
    events = m.step(T0 + 61)
    c = m.connector(1)
    assert (c.offered_a, c.current_a, c.status) == (0, 0, "SuspendedEVSE")
    assert StatusChanged(1, "SuspendedEVSE") in events
    assert m.set_profile(1, tx_profile(6.0)).accepted
    m.step(T0 + 62)
    assert (c.offered_a, c.status) == (6, "Charging")


def test_txprofile_number_phases_switches_the_ev_to_one_phase() -> None:
    m = model()
    start(m, 1, SimEv(max_current_a=16, phases=3), tx=5)
    m.set_profile(1, tx_profile(16.0, phases=1))
    m.step(T0 + 61)
    assert m.connector(1).grid_a == (16, 0, 0)


def test_14a_ev_does_not_charge_below_14a_after_probing() -> None:
    m = model(**{"Connector1-MaxCurrent": "12"})
    start(m, 1, SimEv(max_current_a=16, needs_14a=True), tx=5)
    m.step(T0 + 10)
    assert m.connector(1).status == "SuspendedEV"  # offered 12 during probing: the EV waits
    m.step(T0 + 61)
    assert m.connector(1).status == "SuspendedEVSE"  # detected: the station pauses it


def test_full_ev_is_suspended_ev_and_energy_integrates() -> None:
    m = model()
    ev = SimEv(max_current_a=10, phases=3, battery_wh=6900)  # 10 A x 3 x 230 V = 6.9 kW
    start(m, 1, ev, tx=5)
    m.step(T0 + 60)  # probing 10 A (EV max below 14 A)
    assert m.connector(1).meter_wh == pytest.approx(2000)  # nothing drawn before the first step
    m.step(T0 + 60 + 1800)
    assert m.connector(1).meter_wh == pytest.approx(2000 + 3450)
    m.step(T0 + 60 + 3600)
    assert ev.full and ev.charged_wh == pytest.approx(6900)
    m.step(T0 + 60 + 3601)
    assert m.connector(1).status == "SuspendedEV"
    assert m.connector(1).current_a == 0


def test_status_sequence_and_samples() -> None:
    m = model(sockets=2)
    m.plug_in(2, SimEv(max_current_a=16, phases=1))
    assert m.step(T0 + 1) == [StatusChanged(2, "Preparing")]
    m.begin_session(2, "TAG")
    m.transaction_started(2, 42)
    assert m.step(T0 + 2) == [StatusChanged(2, "Charging")]
    events = m.step(T0 + 62)
    samples = [e for e in events if isinstance(e, Sample)]
    assert len(samples) == 1 and samples[0].transaction_id == 42
    assert samples[0].grid_a == (16, 0, 0)  # socket 2 is not rotated: 1-phase EV on L1
    stop = m.end_session(2, "Local")
    assert (stop.transaction_id, stop.reason) == (42, "Local")
    assert m.step(T0 + 63) == [StatusChanged(2, "Finishing")]
    m.unplug(2)
    assert m.step(T0 + 64) == [StatusChanged(2, "Available")]


def test_sampled_values_follow_the_configured_measurands() -> None:
    sample = Sample(1, 7, T0, (0.0, 0.0, 16.0), 3680.0, 12345.6, 16.0)
    values = sampled_values(
        sample, ["Current.Import", "Energy.Active.Import.Register", "Current.Offered"]
    )
    assert [(v["measurand"], v.get("phase"), v["value"]) for v in values] == [
        ("Current.Import", "L1", "0.0"),
        ("Current.Import", "L2", "0.0"),
        ("Current.Import", "L3", "16.0"),
        ("Energy.Active.Import.Register", None, "12346"),
        ("Current.Offered", None, "16.0"),
    ]
    assert all(v["context"] == "Sample.Periodic" for v in values)


def test_meter_loss_with_active_load_balancing_falls_back_to_safe_current() -> None:
    m = model(**{"Active-LoadBalancing": "On", "Safe-MaxCurrent": "8"})
    start(m, 1, SimEv(max_current_a=16, phases=3), tx=5)
    m.step(T0 + 61)
    assert m.connector(1).offered_a == 32
    m.meter_lost = True
    events = m.step(T0 + 62)
    assert m.connector(1).offered_a == 8
    (station,) = [e for e in events if isinstance(e, StatusChanged) and e.connector_id == 0]
    assert (station.status, station.error_code, station.vendor_error_code) == (
        "Faulted",
        "OtherError",
        "210",
    )
    m.meter_lost = False
    assert StatusChanged(0, "Available") in m.step(T0 + 63)
    assert m.connector(1).offered_a == 32
    # Without ALB a lost meter changes nothing.
    plain = model()
    plain.meter_lost = True
    assert plain.step(T0 + 1) == [] and plain.station_status == "Available"


def test_unphased_current_is_one_value_without_a_phase() -> None:
    # A 2-phase EV drawing 10 A per phase: one Current.Import of 10 A for the outlet.
    sample = Sample(1, 7, T0, (10.0, 0.0, 10.0), 4600.0, 12345.6, 16.0)
    values = sampled_values(sample, ["Current.Import", "Power.Active.Import"], unphased=True)
    assert [(v["measurand"], v.get("phase"), v["value"]) for v in values] == [
        ("Current.Import", None, "10.0"),
        ("Power.Active.Import", None, "4600"),
    ]
