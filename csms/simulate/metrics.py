"""Control-quality figures, shared by `csms simulate`, `csms demo` and the benchmark (pure).

- `GridTally`: peak current per phase, seconds above the grid limit, overload in ampere-seconds
  (the current above the limit summed over phases and integrated over time), and how much of it
  outlasted the reaction time.
- `FairnessTally`: Jain's index among equal EVs (same phases, same maximum current) while they
  are present together and none of them is full.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

ABOVE_A = 0.05  # a phase counts as above the limit beyond this (meter rounding)


@dataclass
class GridTally:
    """Peak and time above the limit of the grid current, integrated over simulated time."""

    limit_a: float
    reaction_s: float
    peak_a: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    above_s: float = 0.0
    beyond_reaction_s: float = 0.0
    amp_s: float = 0.0
    beyond_reaction_amp_s: float = 0.0
    episode_s: float = 0.0
    episodes: int = 0

    def add(self, grid_a: Sequence[float], dt: float) -> None:
        """The grid current per phase held for `dt` seconds."""
        for p in range(3):
            self.peak_a[p] = max(self.peak_a[p], grid_a[p])
        excess = sum(max(0.0, g - self.limit_a) for g in grid_a)
        if any(g > self.limit_a + ABOVE_A for g in grid_a):
            if self.episode_s == 0.0:
                self.episodes += 1
            before = self.episode_s
            self.episode_s += dt
            self.above_s += dt
            self.amp_s += excess * dt
            # Only the part of an episode that outlasts the reaction time counts against us.
            late = max(0.0, self.episode_s - max(before, self.reaction_s))
            self.beyond_reaction_s += late
            self.beyond_reaction_amp_s += excess * late
        else:
            self.episode_s = 0.0


def jain(values: Sequence[float]) -> float:
    """Jain's fairness index: 1 when all are equal, 1/n when one gets everything."""
    total = sum(values)
    squares = sum(v * v for v in values)
    if not values or squares <= 0:
        return 1.0
    return total * total / (len(values) * squares)


@dataclass
class FairnessTally:
    """Charge (A·s) of each EV per group of equal EVs wanting current at the same time."""

    charge: dict[frozenset[str], dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    duration: dict[frozenset[str], float] = field(default_factory=lambda: defaultdict(float))
    moment_jain_s: float = 0.0  # Σ Jain of the currents at each moment × dt, over all groups
    moment_s: float = 0.0

    def add(self, wanting: Mapping[str, tuple[tuple[int, float], float]], dt: float) -> None:
        """`wanting`: EV name → ((phases, max current), current drawn) of the EVs present and not
        full, held for `dt` seconds."""
        groups: dict[tuple[int, float], list[str]] = defaultdict(list)
        for name, (kind, _) in wanting.items():
            groups[kind].append(name)
        for names in groups.values():
            if len(names) < 2:
                continue
            key = frozenset(names)
            self.duration[key] += dt
            self.moment_jain_s += jain([wanting[n][1] for n in names]) * dt
            self.moment_s += dt
            for name in names:
                self.charge[key][name] += wanting[name][1] * dt

    def moment_index(self) -> float | None:
        """Jain's index of the currents moment by moment, time-weighted (alternation, which the
        minimum current can make necessary, lowers it even when the day ends even)."""
        return self.moment_jain_s / self.moment_s if self.moment_s > 0 else None

    def index(self, min_duration_s: float = 60.0) -> tuple[float | None, float | None]:
        """(time-weighted mean, worst) Jain index over the groups present at least
        `min_duration_s`; (None, None) when equal EVs never met."""
        found = [
            (jain([self.charge[key][n] for n in sorted(key)]), seconds)
            for key, seconds in self.duration.items()
            if seconds >= min_duration_s
        ]
        if not found:
            return None, None
        total = sum(s for _, s in found)
        return sum(j * s for j, s in found) / total, min(j for j, _ in found)
