"""Alternating (docs/balancing.md, "Alternating"): the queue, the swap and the turn's length.

Sessions are served in queue order when not everyone fits. When a turn is over, those waiting
for a turn go to the front, the longest waiting first, then the others, the least served first.
The turn is as long as keeps the promise that nobody waits more than one alternating period
(`turn_length`), recomputed every run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .model import SocketKey
from .result import Binding
from .state import BalancerState, SocketState
from .topology import SocketInfo
from .waterfill import Admission, Problem

MIN_TURN_S = 60.0
"""Alternating turns are never shorter than this (or the period, if that is shorter)."""


def queue_for(
    state: BalancerState,
    keys: list[SocketKey],
    position: Mapping[SocketKey, int],
    infos: Sequence[SocketInfo],
    now: float,
    period: float,
) -> tuple[list[int], float | None]:
    """The alternating order for this run (positions in site order, `keys[i]` at `position`),
    after a swap if one is due, and the start of the current turn."""
    order = [i for k in state.queue if (i := position.get(k)) is not None]
    if len(order) < len(position):
        known = set(order)
        arrivals = [i for i in range(len(infos)) if i not in known]
        arrivals.sort(key=lambda i: -infos[i].order_id)
        order += arrivals
    since = state.period_since
    turn = period if state.turn_s is None else state.turn_s
    if not state.safe_mode and since is not None and now - since >= turn:
        old = state.sockets
        waiting = [i for i in order if (st := old.get(keys[i])) and st.alternating_paused]
        if waiting:
            order = _swapped(order, waiting, old, keys, now)
            # The next turn starts when this one was due, so that runs a few seconds apart do
            # not make every turn later than the last (unless the swap is a turn late anyway).
            due = since + turn
            since = due if now - due < turn else now
    return order, since


def _swapped(
    order: list[int],
    waiting: list[int],
    old: Mapping[SocketKey, SocketState],
    keys: list[SocketKey],
    now: float,
) -> list[int]:
    """The queue at a swap: those waiting for a turn first, the longest waiting first; then the
    others, the least served in their session first (so the longest charging pause next)."""

    def waited(i: int) -> float:
        since = old[keys[i]].waiting_since
        return now if since is None else since

    def served(i: int) -> float:
        st = old.get(keys[i])
        if st is None:
            return 0.0
        return st.served_s + (0.0 if st.charging_since is None else now - st.charging_since)

    moved = set(waiting)
    rest = [i for i in order if i not in moved]
    return sorted(waiting, key=waited) + sorted(rest, key=served)  # stable: ties keep the queue


def turn_length(
    period: float,
    problem: Problem[Binding],
    adm: Admission,
    waiting: list[tuple[int, float]],
    since: float,
) -> float:
    """The length of the current alternating turn (which started at `since`), so that nobody
    waits more than one period: the promise of docs/balancing.md.

    `waiting` holds the sockets waiting for a turn and since when. On each constraint that
    keeps sockets waiting, a swap serves about as many of them as it has sockets charging (A),
    the longest waiting first: group j of A waiters (in order of waiting) is served at the
    j-th swap from now, at since + j · turn, which must be at most the time its first member
    has waited one period. The shortest turn that keeps this for every group and constraint is
    taken, recomputed every run (arrivals, departures), never longer than the period nor
    shorter than `MIN_TURN_S`.
    """
    starts: dict[int, list[float]] = {}
    blocked_by = adm.blocked_by
    for i, waiting_since in waiting:
        if (c := blocked_by[i]) >= 0:
            starts.setdefault(c, []).append(waiting_since)
    turn = period
    admitted, members = adm.admitted, problem.c_members
    for c, first in starts.items():
        serving = sum(map(admitted.__getitem__, members[c]))
        if not serving:
            continue
        first.sort()
        for j, k in enumerate(range(0, len(first), serving), start=1):
            t = (first[k] + period - since) / j
            if t < turn:
                turn = t
    return max(turn, min(period, MIN_TURN_S))
