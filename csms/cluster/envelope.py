"""The messages nodes send each other over PostgreSQL NOTIFY, and how they are encoded (pure).

Every message is one JSON object with a kind `k`:

- `call`: node `reply_to` asks the node holding `station` to send it a CALL (`action`,
  `payload`); `id` matches the answer.
- `ack`: the owner received call `id` (so a caller can tell a dead owner from a slow station).
- `answer`: the station's CALLRESULT payload (`result`), or the error class it failed with
  (`error`: `CallErrorReceived` with code/description/details, `CallTimeout`, `StationOffline`).
- `events`: domain events of node `origin` (csms/events.py's serialised form).
- `presence`: `station` is now held by `node` since `since` (`node` None: row `version` was
  deleted); the presence caches follow it.
- `ref`: the real message was too large for a NOTIFY (PostgreSQL's limit is 8,000 bytes); it is
  row `id` of the `cluster_messages` table.

Decoding anything else raises `EnvelopeError` (a listener logs it and carries on).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from csms.events import Event, EventDecodeError, event_from_dict, event_to_dict
from csms.ocpp.errors import CallErrorReceived, CallFailed, CallTimeout, StationOffline

NOTIFY_LIMIT_BYTES = 7000
"""Larger messages travel through the `cluster_messages` table (PostgreSQL refuses a NOTIFY
payload of 8,000 bytes or more; the margin covers the channel name and encoding)."""


NOT_HELD = "NotHeld"
"""The error kind of a forwarded CALL whose station has no session on the owner (it was never
sent; the caller may route it again). Raised as `StationOffline`."""


class EnvelopeError(ValueError):
    """A NOTIFY payload that is not one of our messages."""


@dataclass(frozen=True, slots=True)
class CallRequest:
    id: str
    reply_to: str
    station_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallError:
    """Why a forwarded CALL failed, as the class the caller raises again."""

    kind: str  # CallErrorReceived | CallTimeout | StationOffline | NotHeld | CallFailed
    message: str
    code: str = ""
    description: str = ""
    details: Any = None


@dataclass(frozen=True, slots=True)
class CallAnswer:
    id: str
    result: dict[str, Any] | None = None
    error: CallError | None = None


@dataclass(frozen=True, slots=True)
class Ack:
    """The owner received CALL request `id` (sent before it runs it)."""

    id: str


@dataclass(frozen=True, slots=True)
class EventMessage:
    origin: str
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class PresenceMessage:
    station_id: str
    node_id: str | None
    since: float
    version: int


@dataclass(frozen=True, slots=True)
class Ref:
    """A message stored in `cluster_messages` row `id`."""

    id: int


Message: TypeAlias = CallRequest | Ack | CallAnswer | EventMessage | PresenceMessage | Ref


def encode(message: Message) -> str:
    data: dict[str, Any]
    match message:
        case CallRequest():
            data = {
                "k": "call",
                "id": message.id,
                "reply_to": message.reply_to,
                "station": message.station_id,
                "action": message.action,
                "payload": message.payload,
            }
        case Ack():
            data = {"k": "ack", "id": message.id}
        case CallAnswer():
            data = {"k": "answer", "id": message.id}
            if message.error is not None:
                e = message.error
                data["error"] = {
                    "kind": e.kind,
                    "message": e.message,
                    "code": e.code,
                    "description": e.description,
                    "details": e.details,
                }
            else:
                data["result"] = message.result
        case EventMessage():
            data = {
                "k": "events",
                "origin": message.origin,
                "events": [event_to_dict(e) for e in message.events],
            }
        case PresenceMessage():
            data = {
                "k": "presence",
                "station": message.station_id,
                "node": message.node_id,
                "since": message.since,
                "version": message.version,
            }
        case Ref():
            data = {"k": "ref", "id": message.id}
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def pack_events(
    origin: str, batch: Sequence[Event], limit: int = NOTIFY_LIMIT_BYTES
) -> list[EventMessage]:
    """The batch as few messages as possible that each fit a NOTIFY (in order); an event too
    large by itself goes alone (through the table)."""
    overhead = len(encode(EventMessage(origin, ()))) + 1
    messages: list[EventMessage] = []
    chunk: list[Event] = []
    size = overhead
    for event in batch:
        event_size = len(json.dumps(event_to_dict(event), ensure_ascii=False).encode()) + 1
        if chunk and size + event_size > limit:
            messages.append(EventMessage(origin, tuple(chunk)))
            chunk, size = [], overhead
        chunk.append(event)
        size += event_size
    if chunk:
        messages.append(EventMessage(origin, tuple(chunk)))
    return messages


def fits_notify(text: str) -> bool:
    """Whether `text` may be sent as a NOTIFY payload itself (else: through the table)."""
    return len(text.encode()) <= NOTIFY_LIMIT_BYTES


def decode(text: str) -> Message:
    try:
        data = json.loads(text)
    except ValueError:
        raise EnvelopeError(f"not JSON: {text[:200]!r}") from None
    if not isinstance(data, dict):
        raise EnvelopeError(f"not an object: {text[:200]!r}")
    try:
        return _decode(data)
    except (KeyError, TypeError, EventDecodeError) as exc:
        raise EnvelopeError(f"malformed {data.get('k')!r} message: {exc}") from None


def _decode(data: dict[str, Any]) -> Message:
    kind = data.get("k")
    if kind == "call":
        payload = data["payload"]
        if not isinstance(payload, dict):
            raise TypeError("payload is not an object")
        station, action = str(data["station"]), str(data["action"])
        return CallRequest(str(data["id"]), str(data["reply_to"]), station, action, payload)
    if kind == "ack":
        return Ack(str(data["id"]))
    if kind == "answer":
        error = data.get("error")
        if error is not None:
            return CallAnswer(
                str(data["id"]),
                error=CallError(
                    str(error["kind"]),
                    str(error["message"]),
                    str(error.get("code", "")),
                    str(error.get("description", "")),
                    error.get("details"),
                ),
            )
        result = data["result"]
        if not isinstance(result, dict):
            raise TypeError("result is not an object")
        return CallAnswer(str(data["id"]), result=result)
    if kind == "events":
        return EventMessage(str(data["origin"]), tuple(event_from_dict(e) for e in data["events"]))
    if kind == "presence":
        node = data["node"]
        return PresenceMessage(
            str(data["station"]),
            None if node is None else str(node),
            float(data["since"]),
            int(data["version"]),
        )
    if kind == "ref":
        return Ref(int(data["id"]))
    raise EnvelopeError(f"unknown message kind {kind!r}")


def error_of(exc: CallFailed) -> CallError:
    """What the owner node sends back for a CALL that failed with `exc`."""
    if isinstance(exc, CallErrorReceived):
        return CallError(
            "CallErrorReceived", str(exc), exc.code, exc.description, _jsonable(exc.details)
        )
    if isinstance(exc, CallTimeout):
        return CallError("CallTimeout", str(exc))
    if isinstance(exc, StationOffline):
        return CallError("StationOffline", str(exc))
    return CallError("CallFailed", str(exc))


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def raise_answer(answer: CallAnswer, station_id: str, action: str, timeout_s: float) -> Any:
    """The answer's result, or the exception the local registry would have raised."""
    error = answer.error
    if error is None:
        assert answer.result is not None
        return answer.result
    if error.kind == "CallErrorReceived":
        raise CallErrorReceived(error.code, error.description, error.details)
    if error.kind == "CallTimeout":
        raise CallTimeout(station_id, action, timeout_s)
    if error.kind in ("StationOffline", NOT_HELD):
        raise StationOffline(station_id)
    raise CallFailed(error.message)
