"""The pure lease decisions, table-tested with a passed-in clock: local expiry, the fencing
check, the fair share and what one renewal round does."""

from __future__ import annotations

import pytest

from csms.cluster.leases import (
    Held,
    LeaseRow,
    Round,
    fair_share,
    is_valid,
    lease_timing,
    local_expiry,
    margin_for,
    plan_round,
    preference,
)

SITES = ["a", "b", "c"]


@pytest.mark.parametrize(("lease_s", "margin_s"), [(10, 2.0), (2, 0.5), (1, 0.5), (30, 6.0)])
def test_the_margin_is_a_fifth_of_the_lease_and_at_least_half_a_second(
    lease_s: float, margin_s: float
) -> None:
    assert margin_for(lease_s) == margin_s


def test_the_local_view_ends_before_the_database_lease() -> None:
    # Sent at 100 (local), the database runs it later (its now() ≥ the send): its lease ends
    # at ≥ 110 while this node stops believing at 108.
    assert local_expiry(100.0, 10.0, 2.0) == 108.0


@pytest.mark.parametrize(
    ("held", "epoch", "now", "valid"),
    [
        pytest.param(Held("a", 3, 108.0), 3, 107.9, True, id="held, in time"),
        pytest.param(Held("a", 3, 108.0), 3, 108.0, False, id="at the local expiry"),
        pytest.param(Held("a", 3, 108.0), 2, 100.0, False, id="an older epoch's loop"),
        pytest.param(Held("a", 3, 108.0), 4, 100.0, False, id="a later epoch"),
        pytest.param(None, 3, 100.0, False, id="not held"),
    ],
)
def test_the_fencing_check(held: Held | None, epoch: int, now: float, valid: bool) -> None:
    assert is_valid(held, epoch, now) is valid


@pytest.mark.parametrize(
    ("sites", "nodes", "share"),
    [(3, 1, 3), (3, 2, 2), (3, 3, 1), (3, 5, 1), (0, 2, 0), (4, 2, 2), (5, 0, 5)],
)
def test_fair_share(sites: int, nodes: int, share: int) -> None:
    assert fair_share(sites, nodes) == share


def row(key: str, node: str, epoch: int = 1, live: bool = True) -> LeaseRow:
    return LeaseRow(key, node, epoch, live)


def by_pref(node: str, keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: -preference(node, k))


CASES = [
    pytest.param(
        "n1", {}, {}, 1, Round(acquire=tuple(by_pref("n1", SITES))), id="alone: takes every site"
    ),
    pytest.param(
        "n1", {}, {}, 3, Round(acquire=tuple(by_pref("n1", SITES)[:1])), id="one of three nodes"
    ),
    pytest.param(
        "n2",
        {"a": row("a", "n1"), "b": row("b", "n1")},
        {},
        2,
        Round(acquire=("c",)),
        id="takes only what is free",
    ),
    pytest.param(
        "n2",
        {"a": row("a", "n1", 4, live=False), "b": row("b", "n1"), "c": row("c", "n1")},
        {},
        2,
        Round(acquire=("a",)),
        id="an expired lease is free",
    ),
    pytest.param(
        "n1",
        {k: row(k, "n1") for k in SITES},
        {k: Held(k, 1, 200.0) for k in SITES},
        1,
        Round(renew=tuple((k, 1) for k in SITES)),
        id="renews what it holds",
    ),
    pytest.param(
        "n1",
        {k: row(k, "n1") for k in SITES},
        {k: Held(k, 1, 200.0) for k in SITES},
        2,
        Round(
            renew=tuple((k, 1) for k in SITES if k != by_pref("n1", SITES)[-1]),
            release=((by_pref("n1", SITES)[-1], 1),),
        ),
        id="a second node: releases one surplus site, the least preferred",
    ),
    pytest.param(
        "n1",
        {k: row(k, "n1") for k in SITES},
        {k: Held(k, 1, 200.0) for k in SITES},
        3,
        Round(
            renew=tuple((k, 1) for k in SITES if k != by_pref("n1", SITES)[-1]),
            release=((by_pref("n1", SITES)[-1], 1),),
        ),
        id="one release per round, also with two surplus sites",
    ),
    pytest.param(
        "n1",
        {"a": row("a", "n1", 5)},
        {"a": Held("a", 5, 99.0)},
        1,
        Round(renew=(("a", 5),), acquire=tuple(k for k in by_pref("n1", SITES) if k != "a")),
        id="locally expired, still ours in the database: renew the same epoch",
    ),
    pytest.param(
        "n1",
        {"a": row("a", "n1", 5, live=False)},
        {},
        3,
        Round(acquire=tuple(by_pref("n1", SITES)[:1])),
        id="our own lease ran out: taken again only as a new epoch",
    ),
    pytest.param(
        "n1",
        {"a": row("a", "n2", 7)},
        {"a": Held("a", 6, 200.0)},
        3,
        Round(renew=(("a", 6),)),
        id="a stale local view is renewed, and the renewal fails in the database",
    ),
]


@pytest.mark.parametrize(("node", "rows", "held", "live", "expected"), CASES)
def test_plan_round(
    node: str,
    rows: dict[str, LeaseRow],
    held: dict[str, Held],
    live: int,
    expected: Round,
) -> None:
    assert plan_round(node, SITES, rows, held, live, now=100.0) == expected


def test_singletons_are_taken_when_free_and_not_counted_in_the_share() -> None:
    rows = {"__cluster__": row("__cluster__", "n2")}
    got = plan_round("n1", ["a"], rows, {}, 2, 100.0, always=["__cluster__", "__node__:n1"])
    assert got == Round(acquire=("__node__:n1", "a"))
    held = {"__cluster__": Held("__cluster__", 2, 200.0), "a": Held("a", 1, 200.0)}
    got = plan_round("n1", ["a"], {}, held, 1, 100.0, always=["__cluster__"])
    assert got == Round(renew=(("__cluster__", 2), ("a", 1)))


def test_nodes_prefer_different_sites() -> None:
    """Rendezvous hashing: three nodes starting together do not all go for the same site."""
    sites = [f"site-{i}" for i in range(9)]
    firsts = {by_pref(f"node-{n}", sites)[0] for n in range(3)}
    assert len(firsts) > 1


@pytest.mark.parametrize(("takeover_s", "lease_s", "every_s"), [(10, 20 / 3, 10 / 3), (3, 2, 1)])
def test_a_dead_leaders_site_is_taken_within_the_bound(
    takeover_s: float, lease_s: float, every_s: float
) -> None:
    """Lease 2T/3 after the last renewal, then at most one round (T/3): T in all."""
    assert lease_timing(takeover_s) == pytest.approx((lease_s, every_s))
    assert sum(lease_timing(takeover_s)) == pytest.approx(takeover_s)
