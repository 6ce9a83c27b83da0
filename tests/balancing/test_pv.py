"""PV-surplus mode: charge from export only, with start hold, stop delay and hysteresis."""

from __future__ import annotations

import pytest

from balancing import (
    Allocation,
    BalancerState,
    GridReading,
    LimitSource,
    Mode,
    PvSurplus,
    Session,
    Site,
    Socket,
    Station,
    TimeWindow,
    allocate,
)

KEY = ("PV", 1)


def pv_site(**pv: object) -> Site:
    params: dict[str, object] = {"start_hold_s": 60.0, "stop_delay_s": 300.0, "hysteresis_a": 1.0}
    params.update(pv)
    return Site(
        grid_limit_a=25,
        stations=(Station("PV", 16, (Socket(1, 16),)),),
        mode=Mode.PV_SURPLUS,
        pv=PvSurplus(**params),  # type: ignore[arg-type]
        ramp_a_per_s=None,
        phase_detect_s=0,
    )


class Run:
    """Drive one EV through time with a given export (other load −export on L1)."""

    def __init__(self, site: Site, hint: int | None = None) -> None:
        self.site, self.hint = site, hint
        self.state = BalancerState()
        self.drawing = 0.0
        self.phases = 1

    def at(self, now: float, export: float | None) -> Allocation:
        measured = (self.drawing, self.drawing if self.phases == 3 else 0.0, 0.0)
        if self.phases == 3:
            measured = (self.drawing,) * 3
        session = Session(KEY, 0.0, measured_a=measured, phases_hint=self.hint)  # type: ignore[arg-type]
        reading = None
        if export is not None:
            ev = measured
            reading = GridReading(now, (ev[0] - export, ev[1], ev[2]))
        a = allocate(self.site, reading, [session], self.state, now)
        self.state = a.state
        self.drawing = a.sockets[0].limit_a
        return a


def test_starts_after_the_hold_follows_the_surplus_and_stops_after_the_delay() -> None:
    run = Run(pv_site())
    a = run.at(0, export=8.0)
    assert a.pv_surplus_a == 8.0
    assert a.sockets[0].limit_a == 0
    assert a.sockets[0].binding.detail == "waiting for surplus"
    assert run.at(59, export=8.0).sockets[0].limit_a == 0
    a = run.at(60, export=8.0)
    assert a.sockets[0].limit_a == 6.0  # phases not known yet: counted as three on the budget
    a = run.at(70, export=8.0)  # now measured on one phase: it follows the surplus
    assert a.sockets[0].limit_a == 8.0
    assert a.sockets[0].binding.source is LimitSource.PV_SURPLUS
    a = run.at(200, export=3.0)  # a cloud: it keeps its minimum for the stop delay
    assert a.sockets[0].limit_a == 6.0
    assert run.at(499, export=3.0).sockets[0].limit_a == 6.0
    a = run.at(500, export=3.0)
    assert a.sockets[0].limit_a == 0.0
    assert a.sockets[0].binding.detail == "not enough surplus"


def test_a_short_return_of_the_sun_resets_the_stop_delay() -> None:
    run = Run(pv_site())
    for t in (0, 60, 70):
        run.at(t, export=10.0)
    run.at(100, export=2.0)
    run.at(350, export=10.0)  # back before the delay ran out
    assert run.at(450, export=2.0).sockets[0].limit_a == 6.0  # a new delay started at 450
    assert run.at(749, export=2.0).sockets[0].limit_a == 6.0
    assert run.at(750, export=2.0).sockets[0].limit_a == 0.0


def test_hysteresis_needs_the_minimum_plus_a_margin_to_start() -> None:
    run = Run(pv_site(start_hold_s=0.0), hint=1)
    assert run.at(0, export=6.5).sockets[0].limit_a == 0.0
    assert run.at(10, export=7.0).sockets[0].limit_a == 7.0


def test_a_3_phase_ev_needs_the_minimum_on_every_phase() -> None:
    run = Run(pv_site(start_hold_s=0.0), hint=3)
    run.phases = 3
    assert run.at(0, export=20.0).sockets[0].limit_a == 0.0  # needs 3 × (6 + 1) A
    a = run.at(10, export=21.0)
    assert a.sockets[0].limit_a == 7.0  # 21 A of export over three phases


def test_min_charge_always_charges_at_least_that_much() -> None:
    run = Run(pv_site(min_charge_a=8.0), hint=1)
    a = run.at(0, export=0.0)
    assert a.sockets[0].limit_a == 8.0 and a.sockets[0].min_current_a == 8.0
    assert run.at(10, export=12.0).sockets[0].limit_a == 12.0


def test_boost_windows_charge_at_full_power() -> None:
    run = Run(pv_site(boost_windows=(TimeWindow.parse("00:00-01:00"),)), hint=1)
    a = run.at(0, export=0.0)
    assert a.boosting and a.sockets[0].limit_a == 16.0
    assert a.sockets[0].binding.source is LimitSource.CONNECTOR_MAX
    a = run.at(3600, export=0.0)  # 01:00: the window is over; stop after the delay
    assert not a.boosting and a.sockets[0].limit_a == 6.0
    assert run.at(3900, export=0.0).sockets[0].limit_a == 0.0


def test_a_lost_meter_means_no_surplus() -> None:
    run = Run(pv_site(start_hold_s=0.0, stop_delay_s=0.0), hint=1)
    assert run.at(0, export=10.0).sockets[0].limit_a == 10.0
    a = run.at(10, export=None)
    assert a.safe_mode and a.pv_surplus_a is None and a.sockets[0].limit_a == 0.0


def test_surplus_is_netted_over_phases() -> None:
    site = pv_site(start_hold_s=0.0)
    reading = GridReading(0.0, (2.0, -5.0, -6.0))  # import on L1, export on L2 and L3
    a = allocate(site, reading, [Session(KEY, 0.0, phases_hint=1)], BalancerState(), 0.0)
    assert a.pv_surplus_a == 9.0 and a.sockets[0].limit_a == 9.0


@pytest.mark.parametrize(
    ("text", "minute", "inside"),
    [
        ("07:00-09:30", 7 * 60, True),
        ("07:00-09:30", 9 * 60 + 30, False),
        ("22:00-06:00", 23 * 60, True),
        ("22:00-06:00", 5 * 60, True),
        ("22:00-06:00", 12 * 60, False),
    ],
)
def test_time_windows(text: str, minute: int, inside: bool) -> None:
    assert TimeWindow.parse(text).contains(minute) is inside


@pytest.mark.parametrize("bad", ["7-9", "07:00", "25:00-26:00", "07:61-08:00"])
def test_bad_time_windows_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        TimeWindow.parse(bad)


def test_utc_offset_moves_the_window() -> None:
    pv = PvSurplus(boost_windows=(TimeWindow.parse("07:00-08:00"),), utc_offset_s=3600)
    assert pv.boosting(6 * 3600 + 60)  # 06:01 UTC is 07:01 local
    assert not pv.boosting(7 * 3600 + 60)


def test_a_3_phase_ev_started_on_a_1_phase_surplus_stops_at_once() -> None:
    # Issue 11, item 8: not measured yet, it is counted as 1-phase and may start on 8 A of
    # export; its first measurement shows three phases (18 A needed), so it stops at once
    # instead of drawing from the grid for the stop delay.
    run = Run(pv_site(start_hold_s=0.0, stop_delay_s=300.0))
    run.phases = 3
    a = run.at(0, export=8.0)
    assert a.sockets[0].limit_a == 6.0  # a probe: counted as 1-phase
    a = run.at(10, export=8.0)  # measured on three phases
    assert a.sockets[0].limit_a == 0.0
    assert a.sockets[0].binding.detail == "not enough surplus"
    assert run.at(400, export=8.0).sockets[0].limit_a == 0.0  # and it does not start again
    assert run.at(410, export=22.0).sockets[0].limit_a == 7.3  # 3 × (6 + 1) A is enough


def test_a_3_phase_ev_that_fits_the_surplus_keeps_charging_when_measured() -> None:
    run = Run(pv_site(start_hold_s=0.0, stop_delay_s=300.0))
    run.phases = 3
    assert run.at(0, export=24.0).sockets[0].limit_a == 8.0  # the budget counts all phases
    assert run.at(10, export=24.0).sockets[0].limit_a == 8.0  # measured: still covered
    a = run.at(20, export=15.0)  # a cloud: the stop delay applies as usual
    assert a.sockets[0].limit_a == 6.0
    assert run.at(319, export=15.0).sockets[0].limit_a == 6.0
    assert run.at(320, export=15.0).sockets[0].limit_a == 0.0
