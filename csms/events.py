"""Domain events the OCPP shell publishes for the rest of the system.

Handlers translate frames into these events after the data is stored; configuration management
and the smart-charging control loop subscribe instead of reaching into the OCPP layer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import typing
from dataclasses import dataclass, field
from typing import Any, TypeAlias

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StationConnected:
    station_id: str
    at: float


@dataclass(frozen=True, slots=True)
class StationDisconnected:
    station_id: str
    at: float


@dataclass(frozen=True, slots=True)
class StationBooted:
    """A BootNotification was stored and answered (`status` is what we answered)."""

    station_id: str
    at: float
    status: str
    vendor: str
    model: str
    firmware: str | None


@dataclass(frozen=True, slots=True)
class SnapshotTaken:
    """Configuration management stored a fresh read of every key of a station (`reason`: boot,
    connect, request, verify, scn). Smart charging learns the station's capabilities from it."""

    station_id: str
    at: float
    snapshot_id: int
    reason: str
    values: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StationApproved:
    station_id: str
    at: float


@dataclass(frozen=True, slots=True)
class ConnectorStatusChanged:
    station_id: str
    connector_id: int
    status: str
    error_code: str
    info: str | None
    vendor_error_code: str | None
    at: float


@dataclass(frozen=True, slots=True)
class TransactionStarted:
    station_id: str
    connector_id: int
    transaction_id: int
    id_tag: str
    meter_start_wh: int
    at: float


@dataclass(frozen=True, slots=True)
class TransactionStopped:
    station_id: str
    transaction_id: int
    meter_stop_wh: int
    reason: str | None
    at: float
    connector_id: int | None = None


@dataclass(frozen=True, slots=True)
class MeterSampled:
    """Sampled values of one MeterValues message, grouped per measurand/phase (latest wins)."""

    station_id: str
    connector_id: int
    transaction_id: int | None
    at: float
    values: dict[tuple[str, str | None], float] = field(default_factory=dict)


# Everything the bus carries: `publish` takes only these, and a subscriber's queue yields them, so
# mypy checks that a consumer narrows (isinstance / match) before it reads an event's fields.
Event: TypeAlias = (
    StationConnected
    | StationDisconnected
    | StationBooted
    | StationApproved
    | SnapshotTaken
    | ConnectorStatusChanged
    | TransactionStarted
    | TransactionStopped
    | MeterSampled
)


class EventBus:
    """Fan-out of events to subscribers' queues; publishing never blocks the OCPP hot path.

    A subscriber names the event types it reads (`subscribe(StationBooted, ...)`; none: every
    event), so an event reaches only the queues that want it: a MeterValues message, the busiest
    event, wakes the one consumer that reads samples instead of every service's task in turn.
    A subscriber that falls more than `maxsize` events behind loses the oldest ones (logged), so a
    slow consumer cannot stall stations.
    """

    def __init__(self, maxsize: int = 10000) -> None:
        self._subscribers: list[tuple[asyncio.Queue[Event], tuple[type[Event], ...]]] = []
        self._routes: dict[type[Event], tuple[asyncio.Queue[Event], ...]] = {}
        self._maxsize = maxsize

    def subscribe(self, *kinds: type[Event]) -> asyncio.Queue[Event]:
        """A new queue that receives the events of `kinds` (all events when none is named)
        published from now on."""
        queue: asyncio.Queue[Event] = asyncio.Queue(self._maxsize)
        self._subscribers.append((queue, kinds))
        self._routes.clear()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self._subscribers = [(q, kinds) for q, kinds in self._subscribers if q is not queue]
        self._routes.clear()

    def _queues_for(self, kind: type[Event]) -> tuple[asyncio.Queue[Event], ...]:
        queues = self._routes.get(kind)
        if queues is None:
            queues = tuple(q for q, kinds in self._subscribers if not kinds or kind in kinds)
            self._routes[kind] = queues
        return queues

    def publish(self, event: Event) -> None:
        for queue in self._queues_for(type(event)):
            if queue.full():
                queue.get_nowait()
                log.warning("event subscriber is behind; dropped its oldest event")
            queue.put_nowait(event)


# -- serialisation (events travelling between the nodes of a cluster, csms/cluster/relay.py) ------
EVENT_TYPES: dict[str, type[Event]] = {cls.__name__: cls for cls in typing.get_args(Event)}
"""Every event class by name (all of `Event`)."""


class EventDecodeError(ValueError):
    """A serialised event names no known type or does not fit its fields."""


def _plain(value: object) -> object:
    """A JSON-able form; a dict with non-text keys (MeterSampled's (measurand, phase)) becomes
    {"$items": [[key, value], …]} with tuple keys as lists."""
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: _plain(v) for k, v in value.items()}
        items = [[list(k) if isinstance(k, tuple) else k, _plain(v)] for k, v in value.items()]
        return {"$items": items}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _unplain(value: object) -> object:
    if isinstance(value, dict):
        if set(value) == {"$items"}:
            pairs = value["$items"]
            return {(tuple(k) if isinstance(k, list) else k): _unplain(v) for k, v in pairs}
        return {k: _unplain(v) for k, v in value.items()}
    return value


def event_to_dict(event: Event) -> dict[str, object]:
    """`{"type": class name, "fields": {…}}`, generically from the dataclass fields."""
    fields_ = {f.name: _plain(getattr(event, f.name)) for f in dataclasses.fields(event)}
    return {"type": type(event).__name__, "fields": fields_}


def event_from_dict(data: dict[str, object]) -> Event:
    """The event `event_to_dict` described; `EventDecodeError` for anything else."""
    cls = EVENT_TYPES.get(str(data.get("type")))
    raw = data.get("fields")
    if cls is None or not isinstance(raw, dict):
        raise EventDecodeError(f"not a serialised event: {str(data)[:200]}")
    try:
        arguments: dict[str, Any] = {k: _unplain(v) for k, v in raw.items()}
        return cls(**arguments)
    except TypeError as exc:
        raise EventDecodeError(f"{cls.__name__}: {exc}") from None
