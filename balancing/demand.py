"""What each EV really uses, learnt from its measured per-phase currents.

Two pieces of per-session memory, both kept in `SocketState`:

* **Phases.** Until an EV is measured it is assumed to load every phase of its socket. A phase
  counts as used when it carries at least `PHASE_ON_A` and a third of the strongest phase while
  the EV draws at least `DETECT_MIN_A`. A wider set is adopted at once (safe side); a narrower one
  only after it has been measured for `site.phase_detect_s` (Alfen probes for a minute).
* **Release.** An EV offered at least its minimum that draws less than `IDLE_A` (or has
  suspended itself) for `site.release_after_s` gives its share back: it is released (limit 0)
  until it draws again, or, if it does not say it is suspended, until `site.release_retry_s`
  has passed, when it is offered its minimum again (at 0 A it cannot show that it wants more).
  Coming back it is admitted like any session, so it only gets room that is free.
* **Demand.** Alfen's rule: an EV that draws more than `site.underuse_threshold_a` less than
  offered for `site.underuse_after_s` gets its offer lowered, and the rest goes to others. Here
  the offer drops to what it draws + `DEMAND_HEADROOM_A` (at least its minimum). When it draws
  within `DEMAND_RELEASE_A` of its offer again it wants more, and the cap is lifted.

`track` runs once per session per run, so the common case (nothing changed) returns early.
"""

from __future__ import annotations

import math

from .model import Session, Site
from .state import SocketState

DETECT_MIN_A = 2.0
PHASE_ON_A = 1.0
DEMAND_HEADROOM_A = 2.0
DEMAND_RELEASE_A = 1.0
IDLE_A = 1.0

ALL_EV_PHASES = (1, 2, 3)


_SEEN: tuple[tuple[int, ...], ...] = ((3,), (1,), (2,), (1, 2), (3,), (1, 3), (2, 3), (1, 2, 3))
"""EV phases in use by bit mask (phase 1 → 1, 2 → 2, 3 → 4); 0 cannot occur (the strongest
phase always counts) and gives phase 3, as the decision tree this replaces did."""


def track(prev: SocketState, session: Session, site: Site, now: float, min_a: float) -> SocketState:
    """Update a session's phase set and demand memory from its latest measurement.

    What it draws is the current on its strongest phase: 0 when the EV suspended itself, unknown
    without (finite) values. The phases it uses are known once it draws `DETECT_MIN_A`. (Read
    here rather than in a helper, and with comparisons rather than min/max: this runs for every
    session in every run.)
    """
    st = prev
    drawn: float | None = None
    if not session.charging:
        drawn = 0.0
    elif (m := session.measured_a) is not None:
        a, b, c = m
        if a * 0.0 == 0.0 and b * 0.0 == 0.0 and c * 0.0 == 0.0:  # finite: inf·0 and NaN are NaN
            if a <= 0.0:  # also turns -0.0 into 0.0
                a = 0.0
            if b <= 0.0:
                b = 0.0
            if c <= 0.0:
                c = 0.0
            drawn = a if a >= b else b
            if c > drawn:
                drawn = c
            if drawn >= DETECT_MIN_A:
                on = drawn / 3  # in use at a third of the strongest phase, and PHASE_ON_A
                if on < PHASE_ON_A:
                    on = PHASE_ON_A
                seen = _SEEN[(a >= on) + 2 * (b >= on) + 4 * (c >= on)]
                if seen != st.ev_phases or st.narrower is not None:
                    st = _phases_seen(st, seen, site, now)
    offered = st.limit_a
    if site.release_after_s is not None and (
        st.released_at is not None
        or st.idle_since is not None
        or (drawn is not None and drawn < IDLE_A and offered >= min_a)
    ):
        seen_at = now
        if session.charging and (t := session.measured_at) is not None and t < now:
            seen_at = t  # what it draws is only known as of then
        st = _release(st, session.charging, drawn, offered >= min_a, site, seen_at, min_a, now)
    if drawn is None or offered <= 0:
        # No offer, or nothing known about the draw: nothing to learn; a running timer restarts.
        return st._replace(under_since=None) if st.under_since is not None else st
    gap = offered - drawn
    if st.demand_cap_a is None and st.under_since is None and gap <= site.underuse_threshold_a:
        return st  # the common case: it takes what it is offered
    return _demand(st, gap, drawn, site, now, min_a)


def _release(
    st: SocketState,
    charging: bool,
    drawn: float | None,
    offered: bool,
    site: Site,
    seen_at: float,
    min_a: float,
    now: float,
) -> SocketState:
    """Idle timer and release (module docstring). `offered`: it had at least its minimum;
    `seen_at`: when `drawn` was measured (the idle time runs between measurements, so a single
    old sample of 0 A never releases an EV).

    Back on a retry, it is offered only its minimum (the demand cap, lifted as usual once it
    draws close to it): an EV that may well still be full needs no more.
    """
    after = site.release_after_s
    assert after is not None
    if st.released_at is not None:
        if drawn is not None and drawn >= IDLE_A:
            return st._replace(released_at=None, idle_since=None)
        if charging and now - st.released_at >= site.release_retry_s:
            return st._replace(
                released_at=None, idle_since=None, demand_cap_a=min_a, under_since=None
            )
        return st
    if not offered or drawn is None or drawn >= IDLE_A:
        return st._replace(idle_since=None)
    since = seen_at if st.idle_since is None else st.idle_since
    if seen_at - since >= after:
        return st._replace(released_at=now, idle_since=None)
    return st if since == st.idle_since else st._replace(idle_since=since)


def _phases_seen(st: SocketState, seen: tuple[int, ...], site: Site, now: float) -> SocketState:
    current = st.ev_phases or ALL_EV_PHASES
    if seen == current:
        # Measured on every phase: now known (a 3-phase EV is no longer "not known yet").
        return st._replace(ev_phases=current, narrower=None, narrower_since=None)
    if not set(seen) <= set(current):
        # Uses a phase we thought it did not: widen at once.
        widened = tuple(sorted(set(current) | set(seen)))
        return st._replace(ev_phases=widened, narrower=None, narrower_since=None)
    since = st.narrower_since if st.narrower == seen else None
    if since is None:
        since = now
    if now - since >= site.phase_detect_s:
        return st._replace(ev_phases=seen, narrower=None, narrower_since=None)
    if since == st.narrower_since and seen == st.narrower:
        return st
    return st._replace(narrower=seen, narrower_since=since)


def _demand(
    st: SocketState, gap: float, drawn: float, site: Site, now: float, min_a: float
) -> SocketState:
    cap = st.demand_cap_a
    if cap is not None and gap < DEMAND_RELEASE_A:
        cap = None  # it uses nearly all it is offered: it may want more
    under_since = st.under_since
    if gap > site.underuse_threshold_a:
        if under_since is None:
            under_since = now
        if now - under_since >= site.underuse_after_s:
            cap = max(min_a, math.ceil((drawn + DEMAND_HEADROOM_A) * 10) / 10)
            under_since = now
    else:
        under_since = None
    if cap == st.demand_cap_a and under_since == st.under_since:
        return st
    return st._replace(demand_cap_a=cap, under_since=under_since)
