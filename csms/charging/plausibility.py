"""Does the grid meter see our EVs? A pure check of each reading against the EVs' own draw.

With `meter_includes_ev = true` the control loop takes the EVs' draw out of the meter reading to
find the household. A meter that does not measure the chargers (wired before them, or on another
feeder) then shows a household of minus the EVs' draw — once −46 A, and the site allocated 64 A
per phase on a 25 A grid, silently. A correct meter shows at least the EVs' draw on every phase,
less what the site's PV can export:

    reading ≥ EV draw − PV export            (household ≥ 0)

`check_meter` counts readings that fall short of that by more than a tolerance; after
`RAISE_AFTER` in a row it raises the alarm (the loop then falls back to the safe current). The
alarm clears after `CLEAR_AFTER` readings in a row that do show the EVs (no shortfall at all while
they draw at least the tolerance on a phase); readings without such a draw prove nothing either
way. The EV draw is the lower plausible one (what the EVs were measured drawing, capped at their
limits), so a lagging sample never raises a false alarm.

`floor_reading` is the other half, used on every reading before the alarm is up: the balancer
never sees a reading below the EVs' draw less the PV export, so it never derives a negative
household beyond what export explains, and never allocates more than the grid limit for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Readings in a row below the EVs' draw before the alarm (a few polls: one odd reading, or an EV
# sample that lags a change, is not enough).
RAISE_AFTER = 5
# Readings in a row that show the EVs before the alarm clears.
CLEAR_AFTER = 20

Phases = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class MeterCheck:
    """The check's memory and its verdict after the last reading."""

    alarm: bool = False
    raised_at: float | None = None  # when the alarm went up (None: not up)
    implausible: int = 0  # readings in a row that fell short of the EVs' draw
    confirming: int = 0  # readings in a row that showed the EVs (counted while the alarm is up)
    checked_at: float | None = None  # the last reading checked
    shortfall_a: Phases = (0.0, 0.0, 0.0)  # per grid phase: EV draw − PV export − reading

    @property
    def message(self) -> str:
        """One line for the API, the log and the console ("" when all is well)."""
        worst = max(self.shortfall_a)
        if not self.alarm and self.implausible == 0:
            return ""
        if worst <= 0.0:
            return (
                f"the grid meter did not show the EVs' draw; safe current until it has for "
                f"{CLEAR_AFTER} readings in a row ({self.confirming} so far)"
            )
        phase = self.shortfall_a.index(worst) + 1
        what = (
            f"the grid meter reads {worst:.1f} A less on L{phase} than the EVs draw there "
            "(beyond the PV export allowed): it does not seem to measure the chargers"
        )
        if not self.alarm:
            return f"{what} ({self.implausible} of {RAISE_AFTER} readings)"
        return (
            f"{what}; safe current until it does. Check the meter's wiring, or set "
            "meter_includes_ev = false (pv_export_max_a if the site has PV)"
        )


def shortfall(reading_a: Sequence[float], ev_a: Sequence[float], pv_export_a: float) -> Phases:
    """Per phase, how much the reading falls short of the EVs' draw less the PV export."""
    a, b, c = (ev - pv_export_a - r for r, ev in zip(reading_a, ev_a, strict=True))
    return (a, b, c)


def floor_reading(reading_a: Sequence[float], ev_a: Sequence[float], pv_export_a: float) -> Phases:
    """The reading raised where it is below the EVs' draw less the PV export (the lowest value a
    meter that sees the EVs can show): the household derived from it is never below −export."""
    a, b, c = (max(r, ev - pv_export_a) for r, ev in zip(reading_a, ev_a, strict=True))
    return (a, b, c)


def check_meter(
    prev: MeterCheck,
    reading_at: float,
    reading_a: Sequence[float],
    ev_a: Sequence[float],
    *,
    pv_export_a: float,
    tolerance_a: float,
) -> MeterCheck:
    """The check after one more reading (the same reading again changes nothing).

    `ev_a` is our EVs' lower plausible draw per grid phase when the meter was read.
    """
    if prev.checked_at == reading_at:
        return prev
    short = shortfall(reading_a, ev_a, pv_export_a)
    worst = max(short)
    implausible, confirming = prev.implausible, prev.confirming
    if worst > tolerance_a:
        implausible, confirming = implausible + 1, 0
    else:
        implausible = 0
        if prev.alarm and worst <= 0.0 and max(ev_a) >= tolerance_a:
            confirming += 1  # the EVs draw and the meter shows all of it
    alarm, raised_at = prev.alarm, prev.raised_at
    if not alarm and implausible >= RAISE_AFTER:
        alarm, raised_at, confirming = True, reading_at, 0
    elif alarm and confirming >= CLEAR_AFTER:
        alarm, raised_at, confirming = False, None, 0
    return MeterCheck(alarm, raised_at, implausible, confirming, reading_at, short)
