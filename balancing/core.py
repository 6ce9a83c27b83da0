# Over 450 lines because a run is one pass over shared state (_Run); the docstring has the rules.
"""The entry point: `allocate(site, reading, sessions, state, now) -> Allocation`.

One run, in order:

1. **Headroom per phase.** With a fresh reading: other load = meter − our EVs' measured current
   (when `meter_includes_ev`), available = grid limit − margin − other load, so export raises it.
   A missing, non-finite or stale reading (older than `meter_timeout_s`) turns on safe mode: all
   EVs together get at most `safe_current_a`, lowest socket id first (guide 6.3.3.4).
2. **Per session:** its phases (measured, else all of the socket's, or EV phase 1's alone for a
   probe), its minimum (site, socket or EV: 6 or 14 A), its own caps (connector, station, EV
   max, demand) and whether it gave its share back for not drawing (`demand.py`).
3. **Order.** Sessions queue in the order they are served when not everyone fits; the first run
   queues them by socket id, highest first (guide 2.4, 6.1.1.3); later arrivals join at the back.
   When a turn is over, those waiting go to the front, the longest waiting first, then the least
   served; turns shorten so that nobody waits more than `alternating_period_s` (`alternation.py`).
4. **PV-surplus gate** (PV mode outside boost windows), see `pv.py`.
5. **Share** (`waterfill.py`, `policy.py`): admit in queue order while minimums fit, then fill
   under every grid-phase, circuit, station, safe-mode and PV constraint by the site's policy
   (max-min fair in current, in power, or most phases first).
6. **Ramp:** a limit above last run's rises at most `ramp_a_per_s`; decreases apply at once.

Times are epoch seconds; the result carries the next `BalancerState`.

At 10,000 sessions every pass over them counts (docs/balancing.md, "Speed"): sessions live in
parallel lists (index = position in site order), the constraint tree and simplify's findings are
reused while the sessions stay, and results that come out as last run's are last run's objects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import compress, count, islice
from operator import is_not, lt, ne
from types import MappingProxyType

from .alternation import queue_for, turn_length
from .constraints import Tree, add_tree, deci_down, tree_for
from .demand import track
from .departures import deferral_order, deferred, needs_d, slack_s
from .model import Mode, ReadingLike, Session, Sharing, Site, SocketKey
from .phases import Phase
from .pv import PvCandidate, pv_gate
from .result import Allocation, Binding, LimitSource, new_socket_allocation
from .state import BalancerState, LastResults, SocketState
from .throughput import share_site
from .topology import CompiledSite, SocketInfo, compiled
from .waterfill import Admission, Memo, Problem, finalize, simplify

_EV_MAX = Binding(LimitSource.EV_MAX, "")
_EV_DEMAND = Binding(LimitSource.EV_DEMAND, "drawing less than offered")
_RELEASED = Binding(LimitSource.RELEASED, "not drawing")
_PROBE = {
    p: Binding(LimitSource.PHASE_PROBE, f"phases unknown, minimum on {p.name}") for p in Phase
}
_HINTED = {1: (1,), 2: (1, 2), 3: (1, 2, 3)}


_down = deci_down


def _up(amps: float) -> int:
    return max(1, math.ceil(amps * 10 - 1e-9))


def _fmt(amps: float) -> str:
    return f"{amps:.1f} A"


def grid_headroom(
    site: Site,
    cs: CompiledSite,
    reading: ReadingLike | None,
    infos: Sequence[SocketInfo],
    sessions: Sequence[Session],
    now: float,
) -> tuple[str, tuple[float, ...] | None, tuple[float, ...]]:
    """(safe-mode reason or "", other load per phase or None, available per phase ≥ 0)."""
    limit = site.grid_limit_a - site.margin_a
    reason = ""
    values: tuple[float, ...] = ()
    if reading is None:
        reason = "no meter reading"
    else:
        values = tuple(reading.current_a)
        age = now - reading.at
        if not all(math.isfinite(v) for v in values) or not math.isfinite(reading.at):
            reason = "meter reading is not a number"
        elif age > site.meter_timeout_s:
            reason = f"meter reading {age:.0f} s old"
        elif -age > site.meter_timeout_s:
            reason = "meter reading is from the future"
    if reason:
        safe = max(0.0, min(limit, site.safe_current_a))
        return reason, None, tuple(safe for _ in cs.grid_phases)
    ev = [0.0, 0.0, 0.0]
    if site.meter_includes_ev:
        inf = math.inf
        for info, s in zip(infos, sessions, strict=True):
            m = s.measured_a
            if m is None or not s.charging:
                continue
            a, b, c = m
            g = info.ev_to_grid
            if 0.0 < a < inf:
                ev[g[0]] += a
            if 0.0 < b < inf:
                ev[g[1]] += b
            if 0.0 < c < inf:
                ev[g[2]] += c
    other = tuple(values[p - 1] - ev[p - 1] for p in cs.grid_phases)
    return "", other, tuple(max(0.0, limit - o) for o in other)


def _pv_phases(st: SocketState, phases: tuple[Phase, ...]) -> int:
    """Phases counted against the PV surplus. An EV not measured yet is counted as 1-phase so a
    1-phase EV can start on a small surplus and be measured (Alfen probes too); a 3-phase EV
    found that way stops after the stop delay. The grid limits still count all its phases."""
    return len(phases) if st.ev_phases is not None else 1


def allocate(
    site: Site,
    reading: ReadingLike | None,
    sessions: Sequence[Session],
    state: BalancerState,
    now: float,
) -> Allocation:
    """Limits for every session at `now` (epoch seconds), and the state for the next run.

    `reading` is the latest grid meter reading (any object with `at` and `current_a`, e.g.
    `GridReading`), None when there is none. Raises ValueError for a session on a socket the site
    does not have, two sessions on one socket, or a non-finite `now`.
    """
    if not math.isfinite(now):
        raise ValueError(f"now must be a finite number of seconds, not {now!r}")
    cs = compiled(site)
    infos, in_order = _pair(site, cs, sessions)
    reason, other, available = grid_headroom(site, cs, reading, infos, in_order, now)
    safe = bool(reason)
    pv_mode = site.mode is Mode.PV_SURPLUS
    boosting = pv_mode and site.pv.boosting(now)
    pv_gated = pv_mode and not boosting  # charging only from the surplus
    surplus = None if other is None else max(0.0, -sum(other))
    room = None if safe else [_down(a) for a in available]
    run = _per_session(site, infos, in_order, state, now, pv_gated, room)

    queue, period_since = queue_for(
        state, run.keys, run.position, run.infos, now, site.alternating_period_s
    )
    order = queue
    slack: list[float | None] = [None] * len(infos)
    if safe:  # guide 6.3.3.4: the occupied socket with the lowest id has priority
        order = sorted(range(len(infos)), key=lambda i: infos[i].order_id)
    else:  # sessions that told a departure they make anyway yield their turn
        slack = [
            slack_s(s.energy_to_go_kwh, s.departure_at, run.cap_d[i] / 10, len(run.phases[i]), now)
            for i, s in enumerate(in_order)
        ]
        order = deferral_order(order, slack, site.alternating_period_s)
    rank = run.rank
    for r, i in enumerate(order):
        rank[i] = r
    if pv_mode:
        _pv_gate(site, run, order, surplus, now, gated=pv_gated)

    # In safe mode the grid phases only keep their physical limit; the safe total binds.
    grid_caps = (site.grid_limit_a - site.margin_a,) * len(available) if safe else available
    problem = Problem(run.floor_d, run.cap_d, run.cap_label, rank)
    tree = tree_for(cs, infos, run.phases, run.candidate)
    add_tree(problem, tree, grid_caps)
    memo: Memo[Binding] | None = tree.memo
    if safe or pv_gated:
        _add_budgets(problem, site, run, safe, (surplus or 0.0) if pv_gated else None)
        memo = None  # their members change from run to run

    problem, index = simplify(problem, memo)
    sharing = site.sharing
    phase_counts = [] if sharing is Sharing.EQUAL_CURRENT else [len(p) for p in run.phases]
    need = needs_d(in_order, [len(p) for p in run.phases], now)
    may_yield = can_wait = None  # max-energy: who may yield (throughput.py)
    if sharing is Sharing.MAX_ENERGY and not safe:
        may_yield = [True] * len(infos) if need is None else [not n for n in need]
        if need is not None and room is not None:  # at what its phases can give it now
            can_wait = _can_wait(in_order, run, room, now, site.alternating_period_s)
    departure = [] if need is None else [s.departure_at for s in in_order]
    shared = share_site(
        problem, index, order, run.candidate, sharing, phase_counts, need, departure, may_yield,
        can_wait,
    )  # fmt: skip
    adm, bind = shared.adm, shared.bind
    target = finalize(problem, adm.admitted, shared.x, shared.loads)
    results, new_states, waiting = _results(
        site, state, now, run, tree, problem, adm, bind, target, safe, shared.yielded
    )

    turn = None
    if safe or not waiting:
        period_since = None  # the period starts when someone starts waiting
    else:
        if period_since is None:
            period_since = now
        # A deferred session waits on its departure's promise, not on the turn's.
        waiting = [i for i in waiting if not deferred(slack[i], site.alternating_period_s)]
        states = [new_states[run.keys[i]] for i in waiting]
        since = [now if st.waiting_since is None else st.waiting_since for st in states]
        turn = turn_length(
            site.alternating_period_s,
            problem,
            adm,
            list(zip(waiting, since, strict=True)),
            period_since,
        )
    keys = run.keys
    next_state = BalancerState(
        at=now,
        sockets=MappingProxyType(new_states),
        queue=tuple([keys[i] for i in queue]),
        period_since=period_since,
        safe_mode=safe,
        turn_s=turn,
        last=results,
    )
    return Allocation(
        at=now,
        sockets=results.sockets,
        available_a=available,
        other_load_a=other,
        safe_mode=safe,
        safe_reason=reason,
        mode=site.mode,
        boosting=boosting,
        pv_surplus_a=surplus if pv_mode else None,
        swap_at=None if period_since is None or turn is None else period_since + turn,
        state=next_state,
    )


def _can_wait(
    sessions: Sequence[Session], run: _Run, room: list[int], now: float, period: float
) -> list[bool]:
    """Whether each session would make its departure after `DEFER_PERIODS` more periods at the
    most its own cap and its phases' headroom now allow (max-energy's yields, throughput.py)."""
    out = []
    for i, s in enumerate(sessions):
        best = min([run.cap_d[i], *(room[p - 1] for p in run.phases[i])]) / 10
        n = len(run.phases[i])
        out.append(deferred(slack_s(s.energy_to_go_kwh, s.departure_at, best, n, now), period))
    return out


def _add_budgets(
    problem: Problem[Binding], site: Site, run: _Run, safe: bool, pv_surplus: float | None
) -> None:
    """The safe-mode total over every candidate, and the PV budget (weighted by phases; the
    surplus, 0 without a usable meter)."""
    live = [i for i, ok in enumerate(run.candidate) if ok]
    if safe:
        label = Binding(LimitSource.SAFE_MODE, f"{_fmt(site.safe_current_a)} for all EVs")
        problem.add(_down(site.safe_current_a), label, live)
    if pv_surplus is not None:
        weights = [len(run.phases[i]) for i in live]
        floors = sum(w * run.floor_d[i] for i, w in zip(live, weights, strict=True))
        label = Binding(LimitSource.PV_SURPLUS, f"{_fmt(pv_surplus)} export")
        problem.add(max(_down(pv_surplus), floors), label, live, weights)


def _pair(
    site: Site, cs: CompiledSite, sessions: Sequence[Session]
) -> tuple[list[SocketInfo], list[Session]]:
    """The sessions' sockets and the sessions, both in site order; unknown sockets and doubles
    are errors. Sessions usually come in site order already; then nothing is sorted."""
    index_of = cs.index_of
    where = [index_of.get(s.key, -1) for s in sessions]
    if -1 in where:
        s = sessions[where.index(-1)]
        raise ValueError(f"session on unknown socket {s.key[0]}/{s.key[1]} of site {site.id}")
    in_order = list(sessions)
    if not all(map(lt, where, islice(where, 1, None))):  # not strictly increasing
        by_site = sorted(range(len(where)), key=where.__getitem__)
        in_order = [in_order[k] for k in by_site]
        where = [where[k] for k in by_site]
        for k in range(1, len(where)):
            if where[k] == where[k - 1]:
                key = in_order[k].key
                raise ValueError(f"two sessions on socket {key[0]}/{key[1]}")
    sockets = cs.sockets
    return [sockets[k] for k in where], in_order


class _Run:
    """Per-session working values of one run, as parallel lists (index = position in site order)."""

    __slots__ = (
        "candidate",
        "cap_d",
        "cap_label",
        "floor_d",
        "infos",
        "keys",
        "phases",
        "position",
        "pv_on",
        "pv_phases",
        "pv_since",
        "rank",
        "released",
        "states",
    )

    def __init__(self, infos: list[SocketInfo], pv_mode: bool) -> None:
        n = len(infos)
        self.infos = infos
        self.keys = [info.key for info in infos]
        self.position = dict(zip(self.keys, range(n), strict=True))
        self.states: list[SocketState] = []
        self.phases: list[tuple[Phase, ...]] = []
        self.floor_d: list[int] = []
        self.cap_d: list[int] = []
        self.cap_label: list[Binding] = []
        self.rank = [0] * n
        self.candidate = [True] * n
        self.pv_on = [pv_mode] * n
        self.pv_since: list[float | None] = [None] * n
        self.pv_phases = [0] * n
        self.released: list[int] = []
        """Positions of the sessions that gave their share back (`SocketState.released_at`)."""


def _per_session(
    site: Site,
    infos: list[SocketInfo],
    sessions: list[Session],
    state: BalancerState,
    now: float,
    pv_gated: bool,
    room: list[int] | None,
) -> _Run:
    """Each session's memory, phases, minimum (floor) and own cap.

    `room` is the grid headroom per phase (deci-amps; None in safe mode). An EV whose phases
    are unknown is taken to load all of its socket's; where a phase lacks room for its minimum
    but the phase every EV uses (EV phase 1) has it, it is probed there instead: counted on
    that phase only and capped at its minimum until what it draws shows its phases (at worst a
    3-phase EV draws its minimum beyond the headroom of the other phases until then).
    """
    run = _Run(infos, site.mode is Mode.PV_SURPLUS)
    states, phases, floor_d, cap_d, cap_label = (
        run.states,
        run.phases,
        run.floor_d,
        run.cap_d,
        run.cap_label,
    )
    get = state.sockets.get
    site_min = site.min_current_a
    if pv_gated and site.pv.min_charge_a > 0:
        site_min = max(site_min, site.pv.min_charge_a)
    site_floor = _up(site_min)
    for info, s in zip(infos, sessions, strict=True):
        prev = get(info.key)
        if prev is None or prev.started_at != s.started_at:
            hint = None if s.phases_hint is None else _HINTED[s.phases_hint]
            prev = SocketState(s.started_at, ev_phases=hint)
        elif prev.ev_phases is None and s.phases_hint is not None:  # told after it started
            prev = prev._replace(ev_phases=_HINTED[s.phases_hint])
        min_a = site_min
        if (v := info.min_current_a) is not None and v > min_a:
            min_a = v
        if (v := s.min_current_a) is not None and v > min_a:
            min_a = v
        st = track(prev, s, site, now, min_a)
        states.append(st)
        if st.released_at is not None:
            run.released.append(len(states) - 1)
        ev_phases = st.ev_phases
        table = info.phase_table
        grid = table[(1, 2, 3) if ev_phases is None else ev_phases]
        floor = site_floor if min_a == site_min else _up(min_a)
        floor_d.append(floor)
        # Both are ≥ 0, so int() rounds down like `_down`.
        cap, label = info.own_cap_d, info.own_label
        if (v := s.ev_max_current_a) is not None and (d := int(v * 10 + 1e-9)) < cap:
            cap, label = d, _EV_MAX
        if (v := st.demand_cap_a) is not None and (d := int(v * 10 + 1e-9)) < cap:
            cap, label = d, _EV_DEMAND
        if ev_phases is None and room is not None and len(grid) > 1:
            first = table[(1,)]
            if room[first[0] - 1] >= floor and any(room[p - 1] < floor for p in grid):
                grid = first
                if floor <= cap:
                    cap, label = floor, _PROBE[first[0]]
        phases.append(grid)
        cap_d.append(cap)
        cap_label.append(label)
    for i in run.released:
        run.candidate[i] = run.pv_on[i] = False
    return run


def _pv_gate(
    site: Site, run: _Run, order: list[int], surplus: float | None, now: float, gated: bool
) -> None:
    """Which sessions may charge from the surplus (all of them when boosting or min + PV)."""
    if not gated or site.pv.min_charge_a > 0:
        return
    states, phases, floor_d = run.states, run.phases, run.floor_d
    if run.released:
        gone = set(run.released)
        order = [i for i in order if i not in gone]
    candidates = []
    counted = []
    for i in order:
        st, k = states[i], _pv_phases(states[i], phases[i])
        # Started counted on fewer phases than it turned out to load (an EV not measured
        # yet counts as 1-phase): judged again at once, without the stop delay.
        mistaken = st.pv_on and 0 < st.pv_phases < k
        candidates.append(PvCandidate(st.pv_on, st.pv_since, floor_d[i] / 10 * k, k, mistaken))
        counted.append(k)
    decisions = pv_gate(site.pv, candidates, surplus or 0.0, now)
    for i, dec, k in zip(order, decisions, counted, strict=True):
        run.pv_on[i], run.pv_since[i], run.candidate[i] = dec.on, dec.since, dec.on
        if dec.on:  # the phases it was last found covered with
            run.pv_phases[i] = k if dec.wanted or not states[i].pv_phases else states[i].pv_phases


def _results(
    site: Site,
    state: BalancerState,
    now: float,
    run: _Run,
    tree: Tree,
    problem: Problem[Binding],
    adm: Admission,
    bind: list[int],
    target: list[int],
    safe: bool,
    yielded: dict[int, tuple[int, str]],
) -> tuple[LastResults, dict[SocketKey, SocketState], list[int]]:
    """Apply the ramp, name each binding constraint, build the results and the next states;
    also the sockets that wait for their turn.

    Field by field for every socket, then a second look at the few that are paused or ramping;
    at 10,000 sessions that takes half the time of one loop doing everything per socket. A
    session whose memory did not change keeps its `SocketState` object (in a steady state most
    do), which saves building them and garbage-collector work.
    """
    n = len(target)
    c_label, cap_label = problem.c_label, problem.cap_label
    binding = [c_label[b] if b >= 0 else cap_label[i] for i, b in enumerate(bind)]
    waiting = [False] * n
    for i in [i for i, t in enumerate(target) if not t]:
        if i in yielded:  # paused for throughput under max-energy: not waiting for a turn
            c, to = yielded[i]
            binding[i] = Binding(LimitSource.YIELDING, f"to {to} on {c_label[c]}")
            continue
        binding[i], waiting[i] = _why_paused(i, run, problem, adm, bind, safe, tree.paused)
    limit = target[:]
    rate = site.ramp_a_per_s
    if rate is not None:
        dt = 0.0 if state.at is None else max(0.0, now - state.at)
        step = math.floor(rate * dt * 10 + 1e-9)
        states, floor_d = run.states, run.floor_d
        # t − step > last + 0.5 is t > round(last) + step without rounding: t and step are ints.
        rising = [
            i
            for i, t, st in zip(range(n), target, states, strict=True)
            if t and t - step > st.limit_a * 10 + 0.5
        ]
        for i in rising:
            t, prev = target[i], int(states[i].limit_a * 10 + 0.5)
            limit[i] = max(floor_d[i], prev + step)
            if limit[i] < t:
                binding[i] = Binding(LimitSource.RAMP, f"to {_fmt(t / 10)}")
            else:
                limit[i] = t
    results = _allocations(
        state.last, LastResults((), run.keys, limit, target, run.floor_d, run.phases, binding)
    )
    limit_a = [d / 10 for d in limit]
    columns = zip(run.states, limit_a, run.pv_on, run.pv_since, waiting, run.pv_phases, strict=True)
    # (charging_since is None) == (a == 0): whether it charged last run is whether it does now.
    next_states = [
        st
        if st.limit_a == a
        and st.alternating_paused == w
        and st.pv_on == on
        and st.pv_since == t
        and st.pv_phases == k
        and (st.charging_since is None) == (a == 0)
        else _next_state(st, a, on, t, w, k, now)
        for st, a, on, t, w, k in columns
    ]
    return results, dict(zip(run.keys, next_states, strict=True)), list(compress(count(), waiting))


def _next_state(
    st: SocketState, a: float, on: bool, t: float | None, w: bool, k: int, now: float
) -> SocketState:
    """A session's memory after a run that changed it (`_results`)."""
    waiting_since = (now if st.waiting_since is None else st.waiting_since) if w else None
    charging_since, served = st.charging_since, st.served_s
    if charging_since is None:
        if a:
            charging_since = now
    elif not a:
        served += max(0.0, now - charging_since)
        charging_since = None
    return st._replace(
        limit_a=a,
        pv_on=on,
        pv_since=t,
        alternating_paused=w,
        waiting_since=waiting_since,
        charging_since=charging_since,
        served_s=served,
        pv_phases=k,
    )


def _allocations(last: LastResults | None, now: LastResults) -> LastResults:
    """`now` with its `SocketAllocation`s: last run's where they come out the same (found by
    comparing the columns in C; labels and phases by identity, as they are shared objects),
    else new ones. In a steady state most are the same, which saves building them and the
    garbage-collector work; comparing costs a small part of building."""
    keys, limit, target, floor, phases, binding = now[1:]
    if last is None or last.keys != keys:
        limit_a, target_a = [d / 10 for d in limit], [d / 10 for d in target]
        floor_a = [d / 10 for d in floor]
        sockets = map(new_socket_allocation, keys, limit_a, phases, binding, target_a, floor_a)
        return now._replace(sockets=tuple(sockets))
    changed: set[int] = set()
    for new, old in ((limit, last.limit), (target, last.target), (floor, last.floor)):
        if new != old:
            changed.update(compress(count(), map(ne, new, old)))
    for shared, before in ((phases, last.phases), (binding, last.binding)):
        changed.update(compress(count(), map(is_not, shared, before)))
    out = list(last.sockets)
    for i in changed:
        out[i] = new_socket_allocation(
            keys[i], limit[i] / 10, phases[i], binding[i], target[i] / 10, floor[i] / 10
        )
    return now._replace(sockets=tuple(out))


def _fits_alone(problem: Problem[Binding], c: int, i: int) -> bool:
    """Whether socket i's floor fits constraint c with nobody else in it (if not, waiting for a
    turn on it is pointless: it is a minimum-current pause)."""
    weights = problem.c_weights[c]
    w = 1 if weights is None else weights[problem.c_members[c].index(i)]
    return w * problem.floor[i] <= problem.c_cap[c]


def _why_paused(
    i: int,
    run: _Run,
    problem: Problem[Binding],
    adm: Admission,
    bind: list[int],
    safe: bool,
    labels: dict[tuple[LimitSource, Binding], Binding],
) -> tuple[Binding, bool]:
    """The binding of paused socket i, and whether it waits for its turn (alternating)."""
    if run.states[i].released_at is not None:
        return _RELEASED, False
    if not run.candidate[i]:
        detail = "waiting for surplus" if run.pv_since[i] is not None else "not enough surplus"
        return Binding(LimitSource.PV_SURPLUS, detail), False
    c = adm.blocked_by[i]
    if c < 0 and adm.admitted[i]:
        c = bind[i]  # lowered to 0 by the final check (float rounding), very rare
    waiting = False
    if safe:
        source = LimitSource.SAFE_MODE
    elif c >= 0 and (adm.crowded[i] or adm.admitted[i]) and _fits_alone(problem, c, i):
        source, waiting = LimitSource.ALTERNATING, True
    else:
        source = LimitSource.MIN_CURRENT
    on = problem.cap_label[i] if c < 0 else problem.c_label[c]
    # Shared by the sockets waiting on the same constraint, and kept from run to run (with the
    # tree), so that unchanged results can be recognised by identity.
    binding = labels.get((source, on))
    if binding is None:
        what = f"paused: {on}" if source is LimitSource.SAFE_MODE else str(on)
        binding = labels[source, on] = Binding(source, what)
    return binding, waiting
