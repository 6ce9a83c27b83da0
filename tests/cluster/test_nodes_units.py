"""Node ids, the lease decision and the presence cache's ordering (pure)."""

from __future__ import annotations

import pytest

from csms.cluster.nodes import lease_held, make_node_id, renew_every
from csms.cluster.presence import Held, PresenceCache


def test_node_id_is_the_setting_or_the_host_with_a_suffix() -> None:
    assert make_node_id("csms-0", "host", "abc123") == "csms-0"
    assert make_node_id(None, "host", "abc123") == "host-abc123"
    assert make_node_id(None, "", "abc123") == "csms-abc123"
    long = make_node_id(None, "h" * 80, "abc123")
    assert len(long) == 64 and long.endswith("-abc123")


@pytest.mark.parametrize(
    ("renewed_at", "now", "held"),
    [
        (None, 0.0, False),  # never claimed
        (100.0, 100.0, True),
        (100.0, 103.9, True),  # 6 s lease, renewed every 2 s: held for 4 s without renewal
        (100.0, 104.0, False),  # one renewal period before the database calls it lapsed
        (100.0, 110.0, False),
    ],
)
def test_lease_held(renewed_at: float | None, now: float, held: bool) -> None:
    assert renew_every(6.0) == 2.0
    assert lease_held(renewed_at, now, 6.0) is held


def test_presence_follows_versions_not_arrival_order() -> None:
    cache = PresenceCache()
    assert cache.held_by("S", "a", 1.0, 5)
    # The station moved to b (version 7); a's late release of version 5 arrives after.
    assert cache.held_by("S", "b", 2.0, 7)
    assert not cache.released("S", 5)
    assert cache.owner("S") == "b"
    # b's release (7) and then a stale "held by a" (6) that crossed it: stays released.
    assert cache.released("S", 7)
    assert not cache.held_by("S", "a", 1.5, 6)
    assert cache.owner("S") is None
    assert cache.held_by("S", "c", 3.0, 8) and cache.owner("S") == "c"
    assert cache.since("S") == 3.0


def test_a_reload_keeps_changes_newer_than_what_it_read() -> None:
    cache = PresenceCache()
    cache.held_by("S1", "a", 1.0, 3)
    cache.held_by("S2", "b", 1.0, 11)  # arrived while the reload was reading (as of 10)
    cache.held_by("S3", "a", 1.0, 12)  # newer than the row the reload read for S3
    cache.held_by("S4", "a", 1.0, 4)  # gone from the database (its node was swept)
    read = {"S1": Held("a", 1.0, 3), "S3": Held("b", 1.0, 9), "S5": Held("c", 1.0, 8)}
    cache.replace(read, as_of=10)
    assert sorted(cache.items()) == [("S1", "a"), ("S2", "b"), ("S3", "a"), ("S5", "c")]
