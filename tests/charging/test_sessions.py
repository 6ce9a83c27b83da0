"""Session plans and idTag defaults (issue 11, items 8 and 9), pure: what the balancer is told
about a session's departure, energy to go and phases, and the phases learnt per idTag."""

from __future__ import annotations

import datetime as dt

import pytest

from balancing import (
    BalancerState,
    GridReading,
    PvSurplus,
    Session,
    Site,
    Socket,
    Station,
    allocate,
)
from csms import events
from csms.charging.sessions import (
    PlanError,
    SessionPlan,
    SessionPlans,
    TagDefaults,
    next_time_of_day,
)

T0 = dt.datetime(2026, 3, 28, 18, 0, tzinfo=dt.UTC).timestamp()  # a Saturday, 18:00 UTC
KEY = ("A", 1)


def _started(plans: SessionPlans, tx: int = 1, tag: str = "CARD1", at: float = T0, key=KEY) -> None:
    plans.on_event(events.TransactionStarted(key[0], key[1], tx, tag, 1000, at), BalancerState())


def test_a_session_plan_wins_over_the_idtags_defaults_field_by_field() -> None:
    plans = SessionPlans()
    plans.defaults["CARD1"] = TagDefaults(
        "CARD1", departure="07:30", timezone="Europe/Amsterdam", energy_kwh=20.0, phases=1
    )
    _started(plans)
    e = plans.effective(KEY)
    assert e is not None
    # 07:30 in Amsterdam the next morning; the clocks go forward that night (CET → CEST).
    assert e.departure_at == dt.datetime(2026, 3, 29, 5, 30, tzinfo=dt.UTC).timestamp()
    assert (e.energy_kwh, e.phases) == (20.0, 1)
    assert (e.departure_from, e.energy_from, e.phases_from) == ("idTag", "idTag", "idTag")
    plans.set_plan(KEY, SessionPlan(energy_kwh=5.0, phases=3))
    e = plans.effective(KEY)
    assert e is not None and (e.energy_kwh, e.phases) == (5.0, 3)
    assert (e.departure_from, e.energy_from, e.phases_from) == ("idTag", "session", "session")


def test_energy_to_go_from_the_register_else_from_current_samples() -> None:
    plans = SessionPlans()
    _started(plans)
    plans.set_plan(KEY, SessionPlan(departure_at=T0 + 3600, energy_kwh=10.0))
    assert plans.to_go_kwh(KEY) == 10.0
    # Without a register: 10 A on three phases for one hour = 6.9 kWh.
    for at in (T0, T0 + 3600):
        values = {("Current.Import", f"L{n}"): 10.0 for n in (1, 2, 3)}
        plans.on_event(events.MeterSampled("A", 1, 1, at, values), BalancerState())
    assert plans.to_go_kwh(KEY) == pytest.approx(10.0 - 6.9)
    # A register wins: 1000 Wh at the start, 5000 Wh now.
    values = {("Energy.Active.Import.Register", None): 5000.0}
    plans.on_event(events.MeterSampled("A", 1, 1, T0 + 3601, values), BalancerState())
    assert plans.to_go_kwh(KEY) == pytest.approx(6.0)


def test_apply_tells_the_balancer_and_a_short_ev_is_served_first() -> None:
    site = Site(
        grid_limit_a=32.0,
        stations=(Station("A", 32.0, (Socket(1, 32.0),)), Station("B", 32.0, (Socket(1, 32.0),))),
        ramp_a_per_s=None,
    )
    plans = SessionPlans()
    _started(plans)
    _started(plans, tx=2, tag="CARD2", key=("B", 1))
    plans.set_plan(KEY, SessionPlan(departure_at=T0 + 7200, energy_kwh=30.0, phases=3))
    sessions = plans.apply([Session(KEY, T0), Session(("B", 1), T0)])
    assert sessions[0].departure_at == T0 + 7200 and sessions[0].energy_to_go_kwh == 30.0
    assert sessions[0].phases_hint == 3 and sessions[1] == Session(("B", 1), T0)
    a = allocate(site, GridReading(T0, (0.0, 0.0, 0.0)), sessions, BalancerState(), T0)
    assert [x.limit_a for x in a.sockets] == [24.0, 8.0]
    f = plans.forecasts(a, T0, {})
    assert f[KEY].on_track and ("B", 1) not in f
    # The operator's cap of 10 A on it: the forecast follows the limit sent.
    assert not plans.forecasts(a, T0, {KEY: 10.0})[KEY].on_track


def test_the_phases_measured_are_learnt_for_the_idtag_and_seed_its_next_session() -> None:
    """Item 8: a 1-phase EV beside 20 A on L2 gets only its minimum while probed; once its idTag
    is known as 1-phase, its next session gets all of L1's room at once."""
    site = Site(
        grid_limit_a=25.0, stations=(Station("A", 32.0, (Socket(1, 32.0),)),), ramp_a_per_s=None
    )
    reading = GridReading(T0, (0.0, 20.0, 0.0))
    plans = SessionPlans()
    _started(plans)
    [s] = plans.apply([Session(KEY, T0)])
    a = allocate(site, reading, [s], BalancerState(), T0)
    assert a.sockets[0].limit_a == 6.0  # probed at its minimum on L1
    # It draws on L1 only for longer than the phase detection: known 1-phase.
    state = a.state
    for t in (T0 + 10, T0 + 80):
        s = Session(KEY, T0, measured_a=(6.0, 0.0, 0.0), measured_at=t)
        a = allocate(site, GridReading(t, (6.0, 20.0, 0.0)), [s], state, t)
        state = a.state
    assert a.sockets[0].limit_a == 25.0
    plans.on_event(events.TransactionStopped("A", 1, 5000, None, T0 + 90, 1), state)
    assert plans.learnt == [("CARD1", 1)] and plans.defaults["CARD1"].learned_phases == 1
    # The next session of the same card: known at once, no probe.
    _started(plans, tx=2, at=T0 + 3600)
    [s] = plans.apply([Session(KEY, T0 + 3600)])
    assert s.phases_hint == 1
    a = allocate(site, GridReading(T0 + 3600, (0.0, 20.0, 0.0)), [s], BalancerState(), T0 + 3600)
    assert a.sockets[0].limit_a == 25.0


def test_a_hint_given_after_the_start_is_taken() -> None:
    site = Site(
        grid_limit_a=25.0, stations=(Station("A", 32.0, (Socket(1, 32.0),)),), ramp_a_per_s=None
    )
    reading = GridReading(T0, (0.0, 20.0, 0.0))
    a = allocate(site, reading, [Session(KEY, T0)], BalancerState(), T0)
    assert a.sockets[0].limit_a == 6.0
    a = allocate(site, reading, [Session(KEY, T0, phases_hint=1)], a.state, T0 + 1)
    assert a.sockets[0].limit_a == 25.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"departure": "25:00"}, "time of day"),
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"energy_kwh": -1.0}, "energy_kwh"),
        ({"phases": 4}, "phases"),
    ],
)
def test_bad_defaults_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        TagDefaults("CARD1", **kwargs)  # type: ignore[arg-type]


def test_next_time_of_day() -> None:
    assert next_time_of_day("18:00", "UTC", T0) == T0 + 86400  # not the same moment
    assert next_time_of_day("18:01", "UTC", T0) == T0 + 60


def test_pv_mode_does_not_start_an_ev_known_as_3_phase_on_a_1_phase_surplus() -> None:
    """Item 8: 10 A of export covers a 1-phase EV's 6 A, not a 3-phase EV's 3 × 6 A. Unknown,
    the EV is counted as 1-phase to start (and stopped once measured on three phases); known
    from its idTag's last session, it does not start at all."""
    site = Site(
        grid_limit_a=25.0,
        stations=(Station("A", 32.0, (Socket(1, 32.0),)),),
        ramp_a_per_s=None,
        mode="pv-surplus",
        pv=PvSurplus(start_hold_s=0.0),
    )
    export = GridReading(T0, (-10.0, 0.0, 0.0))
    unknown = allocate(site, export, [Session(KEY, T0)], BalancerState(), T0)
    plans = SessionPlans()
    plans.defaults["CARD1"] = TagDefaults("CARD1", learned_phases=3)
    _started(plans)
    [known] = plans.apply([Session(KEY, T0)])
    assert known.phases_hint == 3
    told = allocate(site, export, [known], BalancerState(), T0)
    assert unknown.sockets[0].limit_a == 6.0
    assert told.sockets[0].limit_a == 0.0
    assert told.sockets[0].binding.source.value == "PV surplus"
