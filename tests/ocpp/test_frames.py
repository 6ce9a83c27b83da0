"""The nesting bound of incoming frames: the level-by-level walk says what the old stack walk
said, and the bracket count before it never lets a too-deep frame through."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.ocpp.frames import may_nest_deeper_than, nested_deeper_than

SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
JSON = st.recursive(
    SCALARS | st.text(alphabet='ab[{}]"\\', max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=40,
)


def stack_walk(value: Any, limit: int) -> bool:
    """The walk the session used before (a reference for the test)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (list, dict)))
    return False


def nest(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@settings(max_examples=300, deadline=None)
@given(body=st.lists(JSON, max_size=4), limit=st.integers(1, 8))
def test_both_walks_agree_and_the_count_lets_no_deep_frame_through(
    body: list[Any], limit: int
) -> None:
    deep = nested_deeper_than(body, limit)
    assert deep == stack_walk(body, limit)
    text = orjson.dumps(body)
    if deep:
        assert may_nest_deeper_than(text, limit)
        assert may_nest_deeper_than(text.decode(), limit)


def test_the_bound_itself() -> None:
    assert not nested_deeper_than(nest(32), 32)
    assert nested_deeper_than(nest(33), 32)
    assert not may_nest_deeper_than(orjson.dumps(nest(32)), 32)
    assert may_nest_deeper_than(orjson.dumps(nest(33)).decode(), 32)
    assert not may_nest_deeper_than('[2, "1", "Heartbeat", {}]', 32)
