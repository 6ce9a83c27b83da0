"""The meter plausibility check: with `meter_includes_ev = true` a grid meter that does not measure
the chargers reads less than the EVs draw. Pure decisions in tables, then the control loop in a
closed loop (real `SiteLoop`, simple physics) with the newcomer's set-up."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from csms.charging.plausibility import (
    CLEAR_AFTER,
    RAISE_AFTER,
    MeterCheck,
    check_meter,
    floor_reading,
)
from tests.support.closed_loop import ClosedLoop

EV = (10.0, 10.0, 10.0)
UNCHECKED = MeterCheck()


def run(readings, ev=EV, pv_export_a=0.0, tolerance_a=2.0, start=UNCHECKED):
    """The check after each reading (one a second)."""
    check, out = start, []
    for n, reading in enumerate(readings):
        ev_now = ev[n] if isinstance(ev, list) else ev
        check = check_meter(check, float(n), reading, ev_now, pv_export_a=pv_export_a,
                            tolerance_a=tolerance_a)  # fmt: skip
        out.append(check)
    return out


@pytest.mark.parametrize(
    ("name", "reading", "pv_export_a", "alarm"),
    [
        ("the meter shows the EVs and the household", (12.0, 11.0, 13.0), 0.0, False),
        ("within the tolerance (sample lag, rounding)", (8.5, 8.5, 8.5), 0.0, False),
        ("one phase short by more than the tolerance", (12.0, 3.0, 12.0), 0.0, True),
        ("the meter does not see the EVs", (3.0, 3.0, 3.0), 0.0, True),
        ("PV export explains it", (-2.0, -2.0, -2.0), 12.0, False),
        ("more than the PV export can explain", (-2.0, -2.0, -2.0), 6.0, True),
    ],
)
def test_an_implausible_reading_raises_the_alarm_after_a_few_in_a_row(
    name, reading, pv_export_a, alarm
):
    checks = run([reading] * RAISE_AFTER, pv_export_a=pv_export_a)
    assert [c.alarm for c in checks[:-1]] == [False] * (RAISE_AFTER - 1), name
    assert checks[-1].alarm is alarm, name
    assert bool(checks[-1].message) is alarm, name


def test_one_odd_reading_in_between_restarts_the_count():
    low, ok = (3.0, 3.0, 3.0), (13.0, 13.0, 13.0)
    checks = run([low] * (RAISE_AFTER - 1) + [ok] + [low] * (RAISE_AFTER - 1))
    assert not any(c.alarm for c in checks)
    assert checks[-1].implausible == RAISE_AFTER - 1 and "of 5 readings" in checks[-1].message


def test_the_same_reading_counts_once():
    check = MeterCheck()
    for _ in range(2 * RAISE_AFTER):
        check = check_meter(check, 7.0, (3.0, 3.0, 3.0), EV, pv_export_a=0, tolerance_a=2)
    assert check.implausible == 1 and not check.alarm


def test_the_alarm_clears_only_after_readings_that_show_the_evs():
    raised = run([(3.0, 3.0, 3.0)] * RAISE_AFTER)[-1]
    assert raised.alarm and raised.raised_at == RAISE_AFTER - 1
    # No EV draws: nothing to learn, the alarm stays.
    idle = run([(1.0, 1.0, 1.0)] * (2 * CLEAR_AFTER), ev=(0.0, 0.0, 0.0), start=raised)
    assert all(c.alarm for c in idle)
    # A shortfall within the tolerance is no proof either.
    near = run([(9.0, 9.0, 9.0)] * (2 * CLEAR_AFTER), start=raised)
    assert all(c.alarm for c in near) and "safe current" in near[-1].message
    # The meter shows the EVs (and the household): cleared after CLEAR_AFTER in a row.
    shown = run([(11.0, 11.0, 11.0)] * CLEAR_AFTER, start=raised)
    assert all(c.alarm for c in shown[:-1]) and not shown[-1].alarm
    assert shown[-1].message == "" and shown[-1].raised_at is None


@pytest.mark.parametrize(
    ("name", "reading", "ev", "pv_export_a", "expected"),
    [
        ("a plausible reading is kept", (12.0, 3.0, 5.0), (10.0, 0.0, 0.0), 0.0, (12.0, 3.0, 5.0)),
        ("below the EVs: raised to them", (3.0, 3.0, 3.0), (10.0, 10.0, 0.0), 0.0,
         (10.0, 10.0, 3.0)),
        ("export within the PV's: kept", (-4.0, -4.0, -4.0), (6.0, 6.0, 6.0), 10.0,
         (-4.0, -4.0, -4.0)),
        ("export beyond the PV's: raised to −PV", (-9.0, -9.0, -9.0), (0.0, 0.0, 0.0), 5.0,
         (-5.0, -5.0, -5.0)),
    ],
)  # fmt: skip
def test_floor_reading(name, reading, ev, pv_export_a, expected):
    assert floor_reading(reading, ev, pv_export_a) == expected, name


# -- in a closed loop --------------------------------------------------------------------------
NEWCOMER = {"grid_limit_a": 25, "margin_a": 1, "safe_current_a": 6, "meter_includes_ev": True}
STATIONS = ["ALF-0001", "ALF-0002", "ALF-0003"]


def implausible_metric(site_id: str) -> float | None:
    return REGISTRY.get_sample_value("csms_meter_implausible", {"site": site_id})


def test_the_newcomers_site_gets_the_alarm_and_the_safe_current_not_64_a():
    # The README's recipe with a meter that does not measure the chargers: the household was
    # once derived as −46 A and 64 A per phase allocated on a 25 A grid.
    site = ClosedLoop(NEWCOMER, STATIONS, household_a=3.0, meter_sees_ev=False)
    for station_id in STATIONS:
        site.plug_in(station_id, max_a=32.0)
    site.run(60.0)

    for tick in site.ticks:
        assert max(site.allocated_a(tick)) <= 24.0 + 1e-6, (tick.at, site.allocated_a(tick))
        other = tick.step.allocation.other_load_a
        assert other is None or min(other) >= -1e-6, other  # never a negative household
    raised = [t for t in site.ticks if t.step.meter_check.alarm]
    assert raised, "no alarm"
    first = raised[0].at
    assert all(t.step.meter_check.alarm for t in site.ticks if t.at >= first)  # it stays up
    later = [t for t in site.ticks if t.at >= first + 10.0]  # the EVs followed the safe current
    for tick in later:
        step = tick.step
        assert step.allocation.safe_mode
        assert "does not seem to measure the chargers" in step.allocation.safe_reason
        assert sum(a.limit_a for a in step.allocation.sockets) <= 6.0 + 1e-6
        assert max(tick.grid_a) <= 3.0 + 6.0 + 1e-6
    assert implausible_metric("s") == 1.0


def test_the_alarm_clears_once_the_meter_sees_the_evs():
    site = ClosedLoop(NEWCOMER, STATIONS[:1], household_a=3.0, meter_sees_ev=False)
    site.plug_in(STATIONS[0], max_a=16.0)
    site.run(20.0)
    assert site.loop.meter_check.alarm
    site.meter_sees_ev = True  # the installer moved the meter's current transformers
    site.run(30.0)
    assert not site.loop.meter_check.alarm and implausible_metric("s") == 0.0
    assert not site.ticks[-1].step.allocation.safe_mode
    assert site.ticks[-1].step.allocation.sockets[0].limit_a > 6.0  # charging on the grid again


@pytest.mark.parametrize(
    ("name", "site_settings"),
    [
        ("balanced site with its PV export configured", {"pv_export_max_a": 12}),
        ("pv-surplus site (export up to the grid limit)", {"mode": "pv-surplus"}),
    ],
)
def test_pv_export_that_explains_a_low_reading_raises_no_alarm(name, site_settings):
    # 2 A household, 10 A PV per phase: the meter shows 8 A export before the EV draws.
    site = ClosedLoop(NEWCOMER | site_settings, STATIONS[:1], household_a=2.0, pv_a=10.0)
    site.plug_in(STATIONS[0], max_a=16.0)
    site.run(90.0)
    assert not any(t.step.meter_check.alarm for t in site.ticks), name
    assert min(t.reading_a[0] for t in site.ticks) <= -8.0 + 1e-6  # it did export
    # The EV charged, and the meter read less than it drew by more than the tolerance: only
    # the PV export explains that.
    assert any(t.reading_a[0] < site.ev_grid_a(t.at)[0] - 4.0 for t in site.ticks), name
    assert site.ticks[-1].step.allocation.sockets[0].limit_a >= 6.0, name


def test_pv_export_not_configured_is_named_in_the_alarm():
    site = ClosedLoop(NEWCOMER, STATIONS[:1], household_a=2.0, pv_a=10.0)
    site.run(10.0)  # no EV: −8 A on a site that says it has no PV
    assert site.loop.meter_check.alarm
    assert "pv_export_max_a" in site.loop.meter_check.message


def test_a_meter_that_leaves_the_evs_out_by_setting_is_not_checked():
    site_settings = NEWCOMER | {"id": "excluded", "meter_includes_ev": False}
    site = ClosedLoop(site_settings, STATIONS[:1], household_a=3.0, meter_sees_ev=False)
    site.plug_in(STATIONS[0], max_a=16.0)
    site.run(30.0)
    assert not site.loop.checks_meter and not site.loop.meter_check.alarm
    assert implausible_metric("excluded") is None
    # The EV's own draw counts on top of the reading: 25 A − 1 A margin − 3 A household.
    assert site.ticks[-1].step.allocation.sockets[0].limit_a == 21.0
    assert max(site.ticks[-1].grid_a) <= 24.0


def test_the_metric_reads_0_from_the_start():
    ClosedLoop(NEWCOMER | {"id": "fresh"}, STATIONS[:1])
    assert implausible_metric("fresh") == 0.0
