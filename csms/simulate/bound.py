"""What any policy could at best have delivered: the exact offline bound and the per-moment maximum.

Both are linear programs over per-phase EV currents (solved with scipy's HiGHS; scipy is an
optional dependency, in the `test` extra, imported only here):

- **Offline bound** — knowing the whole day in advance: time steps of `step_s` × EVs, maximise the
  energy delivered subject to, at every step and grid phase, the EVs on that phase taking at most
  the usable capacity (grid limit − margin − household + PV, as the meter sees it), each station's
  per-phase maximum, each EV's maximum current while it is plugged in, and each EV's energy need.
  The minimum current (6 A) is relaxed, so this is an upper bound on every policy.
- **Per-moment maximum** — without foresight: at each traced moment, the most the EVs present and
  not full could take together within that moment's usable capacity and the stations' maxima, each
  EV either paused or at least at the minimum current (a small MILP per moment).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from csms.sim.configuration import StationConfiguration
from csms.sim.phases import socket_phases
from csms.simulate.engine import Result, window
from csms.simulate.scenario import VOLTAGE_V, Scenario

STATION_MAX_A = float(
    StationConfiguration(1).number("Station-MaxCurrent")
)  # the simulated stations'


@dataclass(frozen=True, slots=True)
class EvSpan:
    """An EV as the programs see it."""

    name: str
    station: str
    grid_phases: tuple[int, ...]  # grid phase indexes (0 = L1) it loads
    max_a: float
    need_kwh: float
    arrive_s: float
    leave_s: float


def ev_spans(scenario: Scenario, start_s: float, end_s: float) -> list[EvSpan]:
    """The visits inside the window, with the grid phases their sockets give them."""
    rotation = {s.id: s.phase_rotation for s in scenario.site.stations}
    out = []
    for track in window(scenario.visits, start_s, end_s):
        v = track.visit
        phases = socket_phases(rotation[v.station], v.connector, scenario.sockets.get(v.station, 1))
        out.append(
            EvSpan(
                v.name, v.station, tuple(phases[: v.phases]), v.max_current_a, v.need_kwh,
                track.arrive_s, min(track.leave_s, end_s),
            )
        )  # fmt: skip
    return out


def usable_a(scenario: Scenario, t: float) -> tuple[float, float, float]:
    """Current the EVs may take per grid phase at `t`: limit − margin − household + PV (≥ 0)."""
    site = scenario.site
    point = scenario.profile.at(t)
    limit = site.grid_limit_a - site.margin_a
    return (
        max(0.0, limit - point.household_a[0] + point.pv_a[0]),
        max(0.0, limit - point.household_a[1] + point.pv_a[1]),
        max(0.0, limit - point.household_a[2] + point.pv_a[2]),
    )


def _station_rows(evs: Sequence[EvSpan]) -> dict[tuple[str, int], list[int]]:
    rows: dict[tuple[str, int], list[int]] = {}
    for i, ev in enumerate(evs):
        for p in ev.grid_phases:
            rows.setdefault((ev.station, p), []).append(i)
    return {key: members for key, members in rows.items() if len(members) > 1}


@dataclass(frozen=True, slots=True)
class Bound:
    """The offline optimum: total and per EV (kWh; one optimal split of several)."""

    total_kwh: float
    per_ev_kwh: Mapping[str, float]


def offline_bound(
    scenario: Scenario, start_s: float, duration_s: float, step_s: float = 60.0
) -> Bound:
    """The most energy any policy could deliver over the window (an LP, solved exactly)."""
    import numpy as np
    from scipy.optimize import linprog  # type: ignore[import-untyped]
    from scipy.sparse import lil_matrix  # type: ignore[import-untyped]

    end_s = start_s + duration_s
    evs = ev_spans(scenario, start_s, end_s)
    steps = max(1, round(duration_s / step_s))
    if not evs:
        return Bound(0.0, {})
    n = len(evs) * steps  # variable (e, k) at e * steps + k: current per phase, step average

    def var(e: int, k: int) -> int:
        return e * steps + k

    kwh_per_a = np.array([len(ev.grid_phases) * VOLTAGE_V * step_s / 3.6e6 for ev in evs])
    upper = np.zeros(n)
    for e, ev in enumerate(evs):
        for k in range(steps):
            t0, t1 = start_s + k * step_s, start_s + (k + 1) * step_s
            present = max(0.0, min(t1, ev.leave_s) - max(t0, ev.arrive_s)) / step_s
            upper[var(e, k)] = ev.max_a * present  # the average over a partly present step
    stations = _station_rows(evs)
    rows = steps * 3 + steps * len(stations) + len(evs)
    a = lil_matrix((rows, n))
    b = np.zeros(rows)
    row = 0
    for k in range(steps):
        room = usable_a(scenario, start_s + k * step_s)
        for p in range(3):
            for e, ev in enumerate(evs):
                if p in ev.grid_phases:
                    a[row, var(e, k)] = 1.0
            b[row] = room[p]
            row += 1
        for members in stations.values():
            for e in members:
                a[row, var(e, k)] = 1.0
            b[row] = STATION_MAX_A
            row += 1
    for e, ev in enumerate(evs):
        for k in range(steps):
            a[row, var(e, k)] = kwh_per_a[e]
        b[row] = ev.need_kwh
        row += 1
    cost = -np.repeat(kwh_per_a, steps)
    solved = linprog(
        cost, A_ub=a.tocsr(), b_ub=b, bounds=list(zip(np.zeros(n), upper, strict=True)),
        method="highs",
    )  # fmt: skip
    if solved.status != 0:
        raise RuntimeError(f"the offline bound's LP did not solve: {solved.message}")
    x = solved.x
    per_ev = {
        ev.name: float(sum(x[var(e, k)] for k in range(steps)) * kwh_per_a[e])
        for e, ev in enumerate(evs)
    }
    return Bound(float(-solved.fun), per_ev)


def moment_max_a(
    room: Sequence[float],
    evs: Sequence[EvSpan],
    min_a: float = 0.0,
    cache: dict[Any, float] | None = None,
    keep: frozenset[str] = frozenset(),
) -> float:
    """The most phase-amperes (Σ current × phases) the `evs` can take together within `room`,
    each either 0 or between `min_a` and its maximum (a small MILP: one on/off per EV); the EVs
    named in `keep` stay on (at least `min_a`, as a policy's fairness floors hold them)."""
    import numpy as np
    from scipy.optimize import linprog

    if not evs:
        return 0.0
    kept = tuple(sorted(e.name for e in evs if e.name in keep))
    key = (tuple(round(r, 3) for r in room), tuple(sorted(e.name for e in evs)), min_a, kept)
    if cache is not None and key in cache:
        return cache[key]
    n = len(evs)  # variables: currents x_0..x_n-1, then on/off z_0..z_n-1
    weights = np.concatenate([[float(len(ev.grid_phases)) for ev in evs], np.zeros(n)])
    a_rows, b = [], []
    for p in range(3):
        a_rows.append([1.0 if p in ev.grid_phases else 0.0 for ev in evs] + [0.0] * n)
        b.append(room[p])
    for members in _station_rows(evs).values():
        a_rows.append([1.0 if i in members else 0.0 for i in range(n)] + [0.0] * n)
        b.append(STATION_MAX_A)
    for i, ev in enumerate(evs):  # min·z ≤ x ≤ max·z
        low, high = [0.0] * (2 * n), [0.0] * (2 * n)
        low[i], low[n + i] = -1.0, min_a
        high[i], high[n + i] = 1.0, -ev.max_a
        a_rows += [low, high]
        b += [0.0, 0.0]
    solved = linprog(
        -weights, A_ub=np.array(a_rows), b_ub=np.array(b),
        bounds=[(0.0, ev.max_a) for ev in evs]
        + [(1.0 if ev.name in keep else 0.0, 1.0) for ev in evs],
        integrality=[0] * n + [1] * n, method="highs",
    )  # fmt: skip
    best = float(-solved.fun) if solved.status == 0 else 0.0
    if cache is not None:
        cache[key] = best
    return best


@dataclass(frozen=True, slots=True)
class MomentFigures:
    """Delivered vs the per-moment maximum, both sampled at the trace points (kWh)."""

    delivered_kwh: float
    maximum_kwh: float
    floors_kept_kwh: float = 0.0
    """The maximum when every EV the policy had charging keeps at least the minimum current:
    the gap down from `maximum_kwh` is what the fairness floors (and turns) cost, the gap from
    here to `delivered_kwh` what the split above them and the control's lag cost."""

    @property
    def ratio(self) -> float:
        return self.delivered_kwh / self.maximum_kwh if self.maximum_kwh > 0 else 1.0

    @property
    def floors_ratio(self) -> float:
        return self.delivered_kwh / self.floors_kept_kwh if self.floors_kept_kwh > 0 else 1.0


def per_moment(scenario: Scenario, result: Result) -> MomentFigures:
    """Compare what the EVs drew at each traced moment with the most they could have drawn."""
    end_s = result.start_s + result.simulated_s
    spans = {ev.name: ev for ev in ev_spans(scenario, result.start_s, end_s)}
    cache: dict[Any, float] = {}
    delivered = maximum = kept = 0.0
    min_a = scenario.site.min_current_a
    for i, point in enumerate(result.trace):
        dt = (result.trace[i + 1].t if i + 1 < len(result.trace) else end_s) - point.t
        kwh = VOLTAGE_V * dt / 3.6e6
        wanting = [spans[name] for name in sorted(point.wanting) if name in spans]
        room = usable_a(scenario, point.t)
        maximum += moment_max_a(room, wanting, min_a, cache) * kwh
        on = frozenset(ev.name for ev in wanting if point.current_a[ev.name] > 0)
        kept += moment_max_a(room, wanting, min_a, cache, keep=on) * kwh
        delivered += sum(point.current_a[ev.name] * len(ev.grid_phases) for ev in wanting) * kwh
    return MomentFigures(delivered, maximum, kept)
