"""Sharing policies: how the current above the minimums is shared among the admitted sockets.

Admission (who charges at all, in queue order) is the same for every policy; a policy only
decides how the admitted sockets rise above their floors. All three reuse the progressive
filling of `filling.py`:

* `equal-current` (Alfen's, the default): one common level in amps, max-min fair in current.
* `equal-power`: the filling runs on y = k·x, the current times the number of grid phases k the
  EV loads (its power at a fixed voltage), so the common level is a power. A constraint
  Σ w·x ≤ C becomes Σ (6w/k)·y ≤ 6C, integer weights for k = 1, 2, 3, so the problem keeps
  integer floors, caps and capacities and `waterfill.finalize` stays exact.
* `max-energy`: the sockets that load the most phases rise first, max-min fair among
  themselves, with everyone else held at their floor; then the next class takes what is left.
  A 3-phase EV turns 1 A of a tight phase into 3 A·phases of charging where a 1-phase EV turns
  it into 1, so capacity on phases a 1-phase EV cannot use is not left idle beside it.

`equal-current` keeps the fast path (the filling's loads let `finalize` skip slack
constraints); the others return no loads, so `finalize` checks every constraint in integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from .filling import fill_with_loads
from .model import Sharing
from .waterfill import Admission, Index, Problem, index_of

L = TypeVar("L")

_EPS = 1e-6  # as in waterfill: float noise far below 0.1 A
_LCM = 6  # of 1, 2 and 3 phases


def share(
    p: Problem[L], ix: Index, adm: Admission, sharing: Sharing, phases: Sequence[int]
) -> tuple[list[float], list[int], list[float] | None]:
    """Currents (deci-amps, floats), the constraint that froze each socket (-1: its own cap or
    not admitted), and the constraints' loads when known (for `finalize`).

    `phases[i]` is the number of grid phases socket i loads (1..3).
    """
    if sharing is Sharing.EQUAL_POWER:
        return _equal_power(p, adm, phases)
    if sharing is Sharing.MAX_ENERGY:
        return _max_energy(p, ix, adm, phases)
    return fill_with_loads(p, ix, adm.admitted, adm.used)


def _equal_power(
    p: Problem[L], adm: Admission, phases: Sequence[int]
) -> tuple[list[float], list[int], list[float] | None]:
    """Progressive filling of y = k·x (see the module docstring)."""
    k = phases
    weights: list[list[int] | None] = []
    for c, members in enumerate(p.c_members):
        ws = p.c_weights[c]
        if ws is None:
            weights.append([_LCM // k[i] for i in members])
        else:
            weights.append([_LCM * w // k[i] for i, w in zip(members, ws, strict=True)])
    q = Problem(
        [f * n for f, n in zip(p.floor, k, strict=True)],
        [c * n for c, n in zip(p.cap, k, strict=True)],
        p.cap_label,
        p.rank,
        [_LCM * c for c in p.c_cap],
        p.c_label,
        p.c_members,
        weights,
    )
    used = [_LCM * u for u in adm.used]  # Σ (6w/k)·(k·floor) = 6 Σ w·floor
    y, bind, _ = fill_with_loads(q, index_of(q), adm.admitted, used)
    return [v / n for v, n in zip(y, k, strict=True)], bind, None


def _max_energy(
    p: Problem[L], ix: Index, adm: Admission, phases: Sequence[int]
) -> tuple[list[float], list[int], list[float] | None]:
    """One filling per class of phase count, most phases first (see the module docstring).

    Each class starts from the loads the classes before it left (rounded down to 0.1 A, so the
    loads stay exact integers) and the floors of the classes after it.
    """
    admitted, floor = adm.admitted, p.floor
    x = [float(f) if ok else 0.0 for f, ok in zip(floor, admitted, strict=True)]
    bind = [-1] * len(x)
    used = list(adm.used)
    for n in sorted({k for k, ok in zip(phases, admitted, strict=True) if ok}, reverse=True):
        tier = [ok and k == n for k, ok in zip(phases, admitted, strict=True)]
        xt, bt, _ = fill_with_loads(p, ix, tier, used)
        for i in [i for i, t in enumerate(tier) if t]:
            rose = int(xt[i] + _EPS) - floor[i]
            x[i], bind[i] = float(floor[i] + rose), bt[i]
            if rose > 0:
                for c in ix.plain[i]:
                    used[c] += rose
                for c, w in ix.weighted[i]:
                    used[c] += w * rose
    return x, bind, None
