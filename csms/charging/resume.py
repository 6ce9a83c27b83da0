"""No re-pause of a resumed EV before its first sample (pure).

When the loop resumes an EV (alternation, a released EV let back in, a new session) it cannot
tell what it draws until the station's next MeterValues: the lower plausible estimate of its draw
is 0 (`SiteModel.ev_estimate`), so the part it already draws counts as household in the meter
reading, and near the limit the balancer would pause it again before it was ever measured — a
resume and a pause in turn (flaky near the limit, and wear on the station).

So a session that the loop resumed (its previous step gave it at least its minimum, and the
station's applied limit rose to it) and that has no sample since keeps its minimum current while
the balancer would pause it for lack of room (alternating or minimum-current pause), for at most
`RESUME_HOLD_S` after the resume. A new session that runs on the safe default and was never
given a share by the balancer is not held: its pause is the balancer's first word on it.

Within the safety rules: never in safe mode, never when a limit of the tree pauses it, never
while the meter reads the grid above its limit less half the margin (the planner then cuts
urgently), and it only keeps the minimum, not a share. The rest of the site keeps the allocation
the balancer made with the conservative household, so the grid can exceed its limit only by what
the held EV starts to draw beyond what the reading already showed, until the next reading, which
then pauses it at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from balancing import Allocation, GridReading, LimitSource
from csms.charging.limits import ConnectorKey, ConnectorLimit, Limit
from csms.charging.model import ConnectorState

# The longest a resumed EV is kept at its minimum without a sample (a station sampling less often
# than this gets no hold after it: the balancer's pause stands).
RESUME_HOLD_S = 60.0
# The pauses a hold may override: those for lack of room, not a limit of the tree.
_ROOM_PAUSES = frozenset({LimitSource.ALTERNATING, LimitSource.MIN_CURRENT})


@dataclass(frozen=True, slots=True)
class Resumed:
    """A session whose applied limit rose to its minimum or more at `at` (from a pause or at its
    start), and when its latest sample arrived (None: never)."""

    key: ConnectorKey
    at: float
    sampled_at: float | None


def resumed_at(history: Sequence[tuple[float, float]], min_current_a: float) -> float | None:
    """When the applied limits (`(since, A)` in order) last rose from below `min_current_a` to at
    least it — the first entry counts as such a rise — or None while the latest is below it."""
    if not history or history[-1][1] < min_current_a:
        return None
    at = history[-1][0]
    for since, limit in reversed(history):
        if limit < min_current_a:
            break
        at = since
    return at


def hold_resumed(
    limits: Mapping[ConnectorKey, ConnectorLimit],
    allocation: Allocation,
    resumed: Sequence[Resumed],
    reading: GridReading | None,
    previous: Mapping[ConnectorKey, ConnectorLimit],
    *,
    ceiling_a: float,
    now: float,
) -> dict[ConnectorKey, ConnectorLimit]:
    """`limits` with every resumed, not yet sampled session the balancer pauses for lack of room
    kept at its minimum (source `LimitSource.RESUMING`), within the rules above. `previous` are
    the limits of the loop's previous step."""
    out = dict(limits)
    over = reading is not None and any(c > ceiling_a for c in reading.current_a)
    if allocation.safe_mode or over:
        return out
    by_key = allocation.by_key()
    for r in resumed:
        limit = out.get(r.key)
        socket = by_key.get(r.key)
        if limit is None or socket is None or limit.value_a > 0:
            continue
        if limit.source not in _ROOM_PAUSES or now - r.at > RESUME_HOLD_S:
            continue
        before = previous.get(r.key)
        if before is None or before.value_a < socket.min_current_a:
            continue  # the loop did not resume it: the balancer never gave it a share
        if r.sampled_at is not None and r.sampled_at >= r.at:
            continue  # measured since the resume: the balancer knows what it draws
        held = Limit(socket.min_current_a, LimitSource.RESUMING, "no sample since the resume")
        out[r.key] = replace(
            limit,
            value_a=held.value_a,
            source=held.source,
            detail=held.detail,
            candidates=(*limit.candidates, held),
            predicted=None,  # the prediction was of the balancer's pause
        )
    return out


def resumed_sessions(
    connectors: Mapping[ConnectorKey, ConnectorState], min_current_a: float
) -> list[Resumed]:
    """The running sessions whose applied limit is at least the minimum, with when it rose there
    (`ConnectorState.limits` holds the limits the station accepted)."""
    out = []
    for key, state in connectors.items():
        if state.transaction_id is None:
            continue
        at = resumed_at(state.limits, min_current_a)
        if at is not None:
            out.append(Resumed(key, at, state.sampled_at))
    return out
