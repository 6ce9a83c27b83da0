"""The numeric core: admission, max-min fair filling with floors and caps, exact rounding."""

from __future__ import annotations

from random import Random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from balancing.waterfill import Memo, Problem, admit, fill, fill_with_loads, finalize, simplify


def solve(p: Problem[str], order: list[int] | None = None) -> tuple[list[int], list[str]]:
    """Run the whole pipeline; return deci-amps and what bound each socket."""
    q, ix = simplify(p)
    n = len(p.floor)
    adm = admit(q, ix, order or list(range(n)), [True] * n)
    x, bind = fill(q, ix, adm.admitted)
    d = finalize(q, adm.admitted, x)
    labels = []
    for i in range(n):
        if not adm.admitted[i]:
            labels.append("paused")
        else:
            labels.append(q.c_label[bind[i]] if bind[i] >= 0 else q.cap_label[i])
    return d, labels


def problem(floors: list[int], caps: list[int]) -> Problem[str]:
    n = len(floors)
    return Problem(floors, caps, [f"cap{i}" for i in range(n)], list(range(n)))


def test_equal_shares_under_one_limit() -> None:
    p = problem([60] * 4, [320] * 4)
    p.add(400, "grid", [0, 1, 2, 3])
    assert solve(p) == ([100] * 4, ["grid"] * 4)


def test_a_capped_socket_frees_the_rest_for_the_others() -> None:
    p = problem([60, 60, 60], [80, 320, 320])
    p.add(400, "grid", [0, 1, 2])
    assert solve(p) == ([80, 160, 160], ["cap0", "grid", "grid"])


def test_a_socket_with_a_higher_minimum_keeps_it() -> None:
    # Guide 4.1.2: at 20 A an EV that needs 14 A gets 14 A and the other 6 A.
    p = problem([140, 60], [320, 320])
    p.add(200, "station", [0, 1])
    assert solve(p)[0] == [140, 60]
    # Above that the share is max-min fair from the floors: 24 A → 14 + 10.
    p = problem([140, 60], [320, 320])
    p.add(240, "station", [0, 1])
    assert solve(p)[0] == [140, 100]


def test_admission_serves_the_order_and_pauses_the_rest() -> None:
    p = problem([60] * 6, [320] * 6)
    p.add(240, "grid", list(range(6)))
    d, labels = solve(p, order=[5, 4, 3, 2, 1, 0])
    assert d == [0, 0, 60, 60, 60, 60]
    assert labels[:2] == ["paused", "paused"]


def test_admission_reports_crowding_and_own_caps() -> None:
    p = problem([60, 60, 60], [320, 320, 40])
    p.add(100, "L1", [0, 1])
    q, ix = simplify(p)
    adm = admit(q, ix, [0, 1, 2], [True] * 3)
    assert adm.admitted == [True, False, False]
    assert q.c_label[adm.blocked_by[1]] == "L1" and adm.crowded[1]
    assert adm.blocked_by[2] == -1  # its own cap (4 A) is below its floor


def test_a_later_socket_on_another_phase_is_not_blocked() -> None:
    p = problem([60, 60, 60], [320, 320, 320])
    p.add(100, "L1", [0, 1])
    p.add(200, "L2", [2])
    assert solve(p)[0] == [100, 0, 200]


def test_weighted_budget_counts_phases() -> None:
    # A PV budget of 30 A summed over phases: a 3-phase EV weighs 3, a 1-phase EV 1.
    p = problem([60, 60], [320, 320])
    p.add(300, "pv", [0, 1], [3, 1])
    d, _ = solve(p)
    assert 3 * d[0] + d[1] <= 300
    assert d == [75, 75]  # both rise together until the budget is used up: 4 × 7.5 A


def test_simplify_folds_drops_and_deduplicates() -> None:
    p = problem([60, 60], [320, 320])
    p.add(100, "single", [0])
    p.add(1000, "slack", [0, 1])
    p.add(300, "L1", [0, 1])
    p.add(250, "L2", [0, 1])
    q, _ = simplify(p)
    assert q.cap == [100, 320] and q.cap_label[0] == "single"
    assert q.c_label == ["L2"]


def test_finalize_gives_back_rounding_excess_lowest_priority_first() -> None:
    p = problem([60, 60], [320, 320])
    p.add(200, "grid", [0, 1])
    d = finalize(p, [True, True], [100.4, 100.9999999])
    assert d == [100, 100]
    d = finalize(p, [True, True], [101.0, 101.0])  # as if float error overshot by 0.2 A
    assert sum(d) <= 200 and d[0] == 101 and d[1] == 99


def test_finalize_pauses_when_the_floors_do_not_fit() -> None:
    p = problem([60, 60], [320, 320])
    p.add(100, "grid", [0, 1])
    assert finalize(p, [True, True], [60.0, 60.0]) == [60, 0]


@st.composite
def problems(draw: st.DrawFn) -> Problem[str]:
    n = draw(st.integers(1, 8))
    floors = [draw(st.sampled_from([60, 60, 60, 140, 55])) for _ in range(n)]
    caps = [draw(st.integers(0, 400)) for _ in range(n)]
    p = problem(floors, caps)
    for k in range(draw(st.integers(0, 6))):
        members = draw(st.lists(st.integers(0, n - 1), min_size=1, unique=True))
        weighted = draw(st.booleans())
        weights = [draw(st.integers(1, 3)) for _ in members] if weighted else None
        p.add(draw(st.integers(0, 800)), f"c{k}", sorted(members), weights)
    return p


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_fill_is_feasible_max_min_fair_and_wastes_nothing(p: Problem[str]) -> None:
    q, ix = simplify(p)
    n = len(p.floor)
    adm = admit(q, ix, list(range(n)), [True] * n)
    x, bind = fill(q, ix, adm.admitted)
    eps = 1e-6

    def load(c: int, values: list[float]) -> float:
        ws = q.c_weights[c] or [1] * len(q.c_members[c])
        return sum(w * values[i] for i, w in zip(q.c_members[c], ws, strict=True))

    for c in range(len(q.c_cap)):
        assert load(c, x) <= q.c_cap[c] + eps
    for i in range(n):
        if not adm.admitted[i]:
            assert x[i] == 0
            continue
        assert q.floor[i] - eps <= x[i] <= max(q.cap[i], q.floor[i]) + eps
        if x[i] >= q.cap[i] - eps:
            continue
        # Not at its cap: a full constraint holds it, in which nobody rising got more.
        c = bind[i]
        assert c >= 0 and i in q.c_members[c]
        assert load(c, x) >= q.c_cap[c] - 1e-4
        for j in q.c_members[c]:
            if adm.admitted[j] and x[j] > q.floor[j] + eps:
                assert x[j] <= x[i] + eps
    d = finalize(q, adm.admitted, x)
    for c in range(len(q.c_cap)):
        assert load(c, [float(v) for v in d]) <= q.c_cap[c]  # exact, in deci-amps
    for i in range(n):
        assert d[i] == 0 or q.floor[i] <= d[i] <= q.cap[i]
    # The original (unsimplified) constraints hold as well.
    for c in range(len(p.c_cap)):
        ws = p.c_weights[c] or [1] * len(p.c_members[c])
        assert sum(w * d[i] for i, w in zip(p.c_members[c], ws, strict=True)) <= p.c_cap[c]
    for i in range(n):
        assert d[i] <= p.cap[i]


def test_constraints_the_floors_fill_freeze_their_members_in_constraint_order() -> None:
    # a and b are full at the floors (2 × 6 A = 12 A): a freezes 0 and 1 at their floor, then b
    # freezes 2; e is full too, but nothing in it rises any more, so it binds nobody; 3 rises
    # until c is full.
    p = problem([60, 60, 60, 60], [320, 320, 320, 320])
    p.add(120, "a", [0, 1])
    p.add(120, "b", [1, 2])
    p.add(180, "e", [0, 1, 2])
    p.add(200, "c", [0, 3])
    assert solve(p) == ([60, 60, 60, 140], ["a", "a", "b", "c"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(), st.randoms())
def test_a_memo_gives_what_a_full_simplify_gives(p: Problem[str], rnd: Random) -> None:
    # A control loop: the same constraints run after run, capacities (and now and then a cap)
    # change; the memo only re-checks what changed and must find the same.
    for c in range(len(p.c_members)):
        if rnd.random() < 0.3:  # twins: the same members under another capacity
            p.add(rnd.randint(0, 800), f"twin{c}", list(p.c_members[c]), p.c_weights[c])
    memo: Memo[str] = Memo()
    for _ in range(6):
        for c in range(len(p.c_cap)):
            if rnd.random() < 0.3:
                p.c_cap[c] = max(0, p.c_cap[c] + rnd.choice([-200, -50, -1, 1, 50, 200]))
        if rnd.random() < 0.15:
            p.cap[rnd.randrange(len(p.cap))] = rnd.randint(0, 400)
        (q, ix), (r, iy) = simplify(p, memo), simplify(p)
        assert (q.cap, q.cap_label, q.c_cap, q.c_label, q.c_members) == (
            r.cap,
            r.cap_label,
            r.c_cap,
            r.c_label,
            r.c_members,
        )
        assert (ix.plain, ix.weighted) == (iy.plain, iy.weighted)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_final_loads_only_skip_checks_that_cannot_fail(p: Problem[str]) -> None:
    q, ix = simplify(p)
    n = len(p.floor)
    adm = admit(q, ix, list(range(n)), [True] * n)
    x, bind, loads = fill_with_loads(q, ix, adm.admitted, adm.used)
    assert (x, bind) == fill(q, ix, adm.admitted)
    assert finalize(q, adm.admitted, x, loads) == finalize(q, adm.admitted, x)
