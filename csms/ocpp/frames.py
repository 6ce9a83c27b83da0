"""OCPP-J frames: message types, nesting bound, the outcome of a frame, encoding of answers."""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

CALL, CALLRESULT, CALLERROR = 2, 3, 4

# OCPP 1.6 payloads nest at most ~7 levels (SetChargingProfile); anything far deeper is an attack
# or a bug, and would break repr(), logging and storage (RecursionError, orjson's 254-level dump).
MAX_NESTING = 32


class Outcome(NamedTuple):
    """What one incoming frame led to."""

    reply: str | None
    refused: bool  # we answered it with a CALLERROR or dropped it as unmatched
    action: str | None = None  # of a well-formed CALL
    result: dict[str, Any] | None = None  # our CALLRESULT payload to that CALL


def dumps(message: list[Any]) -> str:
    return orjson.dumps(message).decode()


def error_frame(unique_id: str, code: str, description: str, details: Any = None) -> str:
    return dumps([CALLERROR, unique_id, code, description[:255], details or {}])


def nested_deeper_than(value: Any, limit: int) -> bool:
    """True when lists/objects in `value` nest over `limit` levels (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (list, dict)))
    return False


def is_unique_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 36
