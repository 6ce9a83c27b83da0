"""Allocation time of the balancing core for 4, 128, 1,000 and 10,000 sockets.

Run: `.venv/bin/python benchmarks/balancing.py [--runs N] [--no-gc]`. Prints the median and the
fastest of N steady-state runs (the state of the previous run is passed back, as the control loop
does, and the meter reading moves by up to ±1 A per phase from run to run, as a real one does).
Targets on the project's 2-core machine, with the garbage collector on: < 1 ms at 128 sockets,
< 50 ms at 10,000.

The site: double-socket 3-phase stations (Station-MaxCurrent 32 A, connectors 32 A) with the
recommended rotation L1L2L3 / L3L1L2 / L2L3L1, 20 stations per circuit, circuits under feeders of
10; every socket in use; a third of the EVs single-phase, EV maxima 10/16/32 A; the grid limit
sized so phases, circuits and stations all bind somewhere and some sessions alternate.

A second table runs each sharing policy (`Site.sharing`) on two sites and prints, for the last
run, what they deliver: the power of all limits (Σ limit × phases × 230 V) and Jain's fairness
index, (Σx)² / (n·Σx²) over the sessions that charge (1 = all equal), of their currents and of
their powers. Paused sessions are left out: which ones pause is the alternation's business, the
same for every policy. The sites: the one above (its circuits bind on all phases alike and most
EVs draw less than offered, so the policies hardly differ there), and a "mixed" one where they
do: single-socket stations without circuits, a third of the EVs 1-phase spread over the phases,
the house on L1 only (a quarter of the grid limit), 9 A per socket and phase.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from balancing import (
    BalancerState,
    Circuit,
    GridReading,
    Session,
    Sharing,
    Site,
    Socket,
    Station,
    allocate,
    phase_rotation,
)

ROTATIONS = ("L1L2L3", "L3L1L2", "L2L3L1")
EV_MAX = (10.0, 16.0, 32.0, None)
PER_CIRCUIT = 20  # stations per circuit
PER_FEEDER = 10  # circuits per feeder
VOLTS = 230.0


def build(
    sockets: int, sharing: Sharing = Sharing.EQUAL_CURRENT
) -> tuple[Site, list[Session], tuple[float, float, float]]:
    """A deterministic site with `sockets` sockets, a session on each, and the meter currents."""
    n_stations = max(1, sockets // 2)
    n_circuits = -(-n_stations // PER_CIRCUIT)
    circuits = [Circuit(f"F{f}", 2400.0) for f in range(-(-n_circuits // PER_FEEDER))]
    circuits += [Circuit(f"C{c}", 260.0, parent=f"F{c // PER_FEEDER}") for c in range(n_circuits)]
    stations = [
        Station(
            f"ST{s:05d}",
            32.0,
            tuple(Socket(k + 1, 32.0) for k in range(2 if sockets >= 2 else 1)),
            phase_rotation=phase_rotation(ROTATIONS[s % 3]),
            circuit_id=f"C{s // PER_CIRCUIT}",
        )
        for s in range(n_stations)
    ]
    site = Site(
        grid_limit_a=max(40.0, sockets * 7.0),
        margin_a=2.0,
        stations=tuple(stations),
        circuits=tuple(circuits),
        sharing=sharing,
    )
    sessions = []
    ev = [0.0, 0.0, 0.0]
    for k, station in enumerate(stations):
        for sock in station.sockets:
            j = k * 2 + sock.connector_id
            drawing = 6.0 + j % 7
            measured = (drawing, 0.0, 0.0) if j % 3 == 0 else (drawing, drawing, drawing)
            sessions.append(
                Session(
                    (station.id, sock.connector_id),
                    started_at=float(j % 50),
                    ev_max_current_a=EV_MAX[j % 4],
                    measured_a=measured,
                )
            )
            for p, v in enumerate(measured):
                ev[p] += v  # close enough: the rotation only moves it between phases
    house = sockets * 0.5
    meter = (house + ev[0], house + ev[1] * 0.9, house + ev[2] * 1.1)
    return site, sessions[:sockets], meter


def build_mixed(
    sockets: int, sharing: Sharing
) -> tuple[Site, list[Session], tuple[float, float, float]]:
    """The "mixed" site of the policy table (module docstring): EV phases given as hints."""
    stations = [
        Station(
            f"M{s:05d}",
            32.0,
            (Socket(1, 32.0),),
            phase_rotation=phase_rotation(ROTATIONS[s // 3 % 3]),
        )
        for s in range(sockets)
    ]
    grid = max(40.0, sockets * 9.0)
    site = Site(
        grid_limit_a=grid,
        stations=tuple(stations),
        meter_includes_ev=False,
        sharing=sharing,
    )
    sessions = [
        Session(
            (s.id, 1),
            started_at=0.0,
            ev_max_current_a=EV_MAX[j % 4],
            phases_hint=1 if j % 3 == 0 else 3,
        )
        for j, s in enumerate(stations)
    ]
    return site, sessions, (grid / 4, 0.0, 0.0)


class Result(NamedTuple):
    median_s: float
    best_s: float
    paused: int
    sources: Counter[str]
    kw: float
    """Σ limit × phases × 230 V of the last run."""
    jain_a: float
    jain_kw: float


def jain(values: list[float]) -> float:
    """Jain's fairness index of the values (1 when all are equal)."""
    square = sum(v * v for v in values)
    return sum(values) ** 2 / (len(values) * square) if square else 1.0


def bench(
    sockets: int, runs: int, sharing: Sharing = Sharing.EQUAL_CURRENT, mixed: bool = False
) -> Result:
    """`runs` steady-state runs: times, sessions paused, binding sources, delivery, fairness."""
    site, sessions, meter = (build_mixed if mixed else build)(sockets, sharing)
    alloc = allocate(site, GridReading(0.0, meter), sessions, BalancerState(), 0.0)
    # Warm up to the steady state: phases detected, demand caps learnt, ramps done.
    for now in (100.0, 400.0, 700.0, 1000.0):
        alloc = allocate(site, GridReading(now, meter), sessions, alloc.state, now)
    now = 1000.0
    times = []
    noise = random.Random(sockets)
    l1, l2, l3 = meter
    for _ in range(runs):
        now += 1.0
        wobble = [noise.uniform(-1.0, 1.0) for _ in range(3)]
        fresh = GridReading(now, (l1 + wobble[0], l2 + wobble[1], l3 + wobble[2]))
        t0 = time.perf_counter()
        alloc = allocate(site, fresh, sessions, alloc.state, now)
        times.append(time.perf_counter() - t0)
    paused = sum(1 for a in alloc.sockets if a.limit_a == 0)
    sources = Counter(a.binding.source.value for a in alloc.sockets)
    on = [a for a in alloc.sockets if a.limit_a > 0]
    power = [a.limit_a * len(a.phases) * VOLTS / 1000 for a in on]
    return Result(
        statistics.median(times),
        min(times),
        paused,
        sources,
        sum(power),
        jain([a.limit_a for a in on]),
        jain(power),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per size (default 15)")
    parser.add_argument(
        "--no-gc", action="store_true", help="disable the cyclic garbage collector while timing"
    )
    parser.add_argument(
        "--policy-sizes",
        type=int,
        nargs="*",
        default=[128, 1_000, 10_000],
        help="socket counts for the sharing-policy table (default 128 1000 10000)",
    )
    args = parser.parse_args()
    if args.no_gc:
        gc.disable()
    targets = {128: 1.0, 10_000: 50.0}
    print(f"{'sockets':>8} {'median ms':>10} {'best ms':>9} {'paused':>7}  {'target':<14} bound by")
    for n in (4, 128, 1_000, 10_000):
        r = bench(n, args.runs)
        target = targets.get(n)
        verdict = ""
        if target is not None:
            verdict = f"< {target:g} ms " + ("ok" if r.median_s * 1e3 < target else "MISSED")
        top = ", ".join(f"{k} {v}" for k, v in r.sources.most_common(4))
        print(
            f"{n:>8} {r.median_s * 1e3:>10.3f} {r.best_s * 1e3:>9.3f} {r.paused:>7}  "
            f"{verdict:<14} {top}"
        )
    print()
    print(
        f"{'site':<6} {'sockets':>7} {'sharing':<14} {'median ms':>10} {'paused':>7} "
        f"{'kW':>9} {'Jain A':>7} {'Jain kW':>7}"
    )
    for mixed in (False, True):
        for n in args.policy_sizes:
            for sharing in Sharing:
                r = bench(n, args.runs, sharing, mixed)
                print(
                    f"{'mixed' if mixed else 'above':<6} {n:>7} {sharing.value:<14} "
                    f"{r.median_s * 1e3:>10.3f} {r.paused:>7} {r.kw:>9.1f} {r.jain_a:>7.3f} "
                    f"{r.jain_kw:>7.3f}"
                )


if __name__ == "__main__":
    main()
