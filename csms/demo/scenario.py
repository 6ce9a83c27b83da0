"""The demo's day: household load and PV per phase by time of day, and when which EV plugs in.

Pure and deterministic (a seeded noise table, no clock): `household_a(t)`, `pv_a(t)` and
`sessions()` are functions of the time of day in seconds, so the demo and its tests see the same
day at any speed.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass

DAY_S = 86400.0
Triple = tuple[float, float, float]

# Household load per phase (A) at hours of the day; interpolated linearly in between. Phases differ
# (a cooker on L1, a heat pump on L2 and L3) so the balancer must be phase aware.
_HOUSEHOLD = [
    (0.0, (1.5, 1.2, 1.8)),
    (6.0, (1.5, 1.2, 1.8)),
    (7.0, (6.0, 3.0, 4.0)),
    (8.5, (3.0, 2.0, 2.5)),
    (12.0, (4.0, 2.5, 3.0)),
    (13.5, (2.5, 2.0, 2.5)),
    (17.0, (4.0, 4.5, 3.0)),
    (18.0, (11.0, 6.0, 8.0)),
    (19.5, (13.0, 7.0, 9.0)),
    (21.0, (6.0, 5.0, 5.0)),
    (23.0, (2.5, 2.0, 2.0)),
    (24.0, (1.5, 1.2, 1.8)),
]
PV_PEAK_A = 11.0  # per phase at solar noon (≈ 7.6 kW)
PV_START_H, PV_END_H = 7.0, 19.0
NOISE_STEP_S = 300.0  # the household's small ups and downs change every 5 minutes
NOISE_A = 0.6


@dataclass(frozen=True, slots=True)
class DemoEv:
    """An EV's visit: which socket, when (seconds after midnight; may pass midnight), what car."""

    name: str
    station: str
    connector: int
    arrive_s: float
    leave_s: float
    max_current_a: float
    phases: int
    battery_kwh: float


def _interpolate(hour: float) -> Triple:
    for (h0, v0), (h1, v1) in itertools.pairwise(_HOUSEHOLD):
        if h0 <= hour <= h1:
            f = 0.0 if h1 == h0 else (hour - h0) / (h1 - h0)
            return (
                v0[0] + (v1[0] - v0[0]) * f,
                v0[1] + (v1[1] - v0[1]) * f,
                v0[2] + (v1[2] - v0[2]) * f,
            )
    return _HOUSEHOLD[0][1]


_NOISE = [
    tuple(random.Random(7 + i).uniform(-NOISE_A, NOISE_A) for _ in range(3))
    for i in range(int(DAY_S / NOISE_STEP_S))
]


def household_a(time_of_day_s: float) -> Triple:
    """Household load per phase (A) at a time of day, with deterministic noise."""
    t = time_of_day_s % DAY_S
    base = _interpolate(t / 3600.0)
    noise = _NOISE[int(t // NOISE_STEP_S) % len(_NOISE)]
    return (
        max(0.3, base[0] + noise[0]),
        max(0.3, base[1] + noise[1]),
        max(0.3, base[2] + noise[2]),
    )


def pv_a(time_of_day_s: float) -> Triple:
    """PV production per phase (A): a sine between sunrise and sunset, clear sky."""
    hour = (time_of_day_s % DAY_S) / 3600.0
    if not PV_START_H < hour < PV_END_H:
        return (0.0, 0.0, 0.0)
    amps = PV_PEAK_A * math.sin(math.pi * (hour - PV_START_H) / (PV_END_H - PV_START_H))
    return (amps, amps, amps)


def sessions(stations: list[tuple[str, int]]) -> list[DemoEv]:
    """A day of visits for the given sockets [(station id, connector id), …] (at least one).

    Evenings crowd (everyone home, cooking), days have PV, nights have room: the balancer has to
    share, alternate and ramp.
    """
    h = 3600.0
    plans = [
        [("Model 3", 17.5, 23.5, 16.0, 3, 40.0), ("e-Golf", 8.0, 12.0, 16.0, 1, 20.0)],
        [("Zoe", 18.0, 31.0, 32.0, 3, 45.0), ("Kona", 13.0, 16.5, 16.0, 3, 25.0)],
        [("Leaf", 18.5, 30.0, 32.0, 1, 35.0), ("ID.3", 9.0, 15.0, 16.0, 3, 30.0)],
        [("Taycan", 19.0, 22.0, 32.0, 3, 60.0), ("i3", 6.5, 10.0, 16.0, 3, 15.0)],
    ]
    out = []
    for index, (station, connector) in enumerate(stations):
        for name, arrive, leave, amps, phases, kwh in plans[index % len(plans)]:
            suffix = "" if index < len(plans) else f" #{index // len(plans) + 1}"
            out.append(
                DemoEv(name + suffix, station, connector, arrive * h, leave * h, amps, phases, kwh)
            )
    return out
