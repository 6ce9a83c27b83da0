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


def may_nest_deeper_than(frame: str | bytes, limit: int) -> bool:
    """False when the frame's text holds at most `limit` opening brackets: its JSON cannot nest
    deeper then (a C-speed count that spares the walk below for almost every frame)."""
    if isinstance(frame, bytes):
        return frame.count(b"[") + frame.count(b"{") > limit
    return frame.count("[") + frame.count("{") > limit


def nested_deeper_than(value: Any, limit: int) -> bool:
    """True when lists/objects in `value` nest over `limit` levels (level by level: no
    recursion, and only containers are collected)."""
    level = [value]
    depth = 1
    while level:
        if depth > limit:
            return True
        below = []
        for item in level:
            for child in item.values() if isinstance(item, dict) else item:
                if isinstance(child, (list, dict)):
                    below.append(child)
        level = below
        depth += 1
    return False


def is_unique_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 36
