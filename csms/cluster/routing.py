"""`ClusterLink`: `StationLink` and `StationControl` for every station of the cluster.

A station with a session on this node goes to the local registry. A station held by another
live node (the presence cache) gets its CALL forwarded to that node as a `CallRequest` on the
node's channel; the owner runs it through its registry — same response timeout, same one CALL in
flight per station (the registry's session serialises them) — and sends back a `CallAnswer`
with the result or the error class, which the caller raises again. With no answer within the
response timeout plus `FORWARD_MARGIN_S` (the owner died, a message was lost) the caller raises
`CallTimeout`.

`is_online`, `online_ids` and `last_seen` are answered from memory (registry and presence cache),
never by a query. For a remote station `last_seen` is when its session opened (the owner keeps
the exact time; the console shows it only as an age).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from csms.cluster import envelope, metrics
from csms.cluster.presence import PresenceCache
from csms.ocpp.errors import CallFailed, CallTimeout, StationOffline
from csms.ocpp.registry import StationRegistry

log = logging.getLogger(__name__)

FORWARD_MARGIN_S = 2.0
"""How much longer a caller waits than the owner's response timeout (two NOTIFY hops)."""
ACK_S = 2.0
"""How long a caller waits for the owner to confirm it received a forwarded CALL. Without it,
and with presence naming another holder meanwhile (the owner died, the station reconnected
elsewhere), the CALL goes to the new holder instead of waiting out the response timeout."""
DISCONNECT = "$disconnect"
"""The pseudo-action of a forwarded `disconnect` (payload: code, reason)."""


@dataclass(frozen=True, slots=True)
class Route:
    """Where a CALL for a station goes: `local`, `remote` (to `node_id`) or `offline`."""

    kind: str
    node_id: str | None = None


LOCAL = Route("local")
OFFLINE = Route("offline")


def route(has_session: bool, owner: str | None, me: str, live: frozenset[str]) -> Route:
    """The routing decision: a local open session wins (even one the presence cache has not
    heard of yet); else the holding node if it is live and not this node; else offline."""
    if has_session:
        return LOCAL
    if owner is None or owner == me or owner not in live:
        return OFFLINE
    return Route("remote", owner)


Send = Callable[[str, envelope.Message], Awaitable[None]]


class _Unacknowledged(Exception):
    """The owner did not confirm a forwarded CALL, and presence names another route now."""

    def __init__(self, target: Route) -> None:
        super().__init__(target)
        self.target = target


def _offline(answer: envelope.CallAnswer) -> bool:
    """The owner had no session for the station: the CALL was never sent to it."""
    return answer.error is not None and answer.error.kind == envelope.NOT_HELD


class ClusterLink:
    """Calls any station of the cluster; implements `StationControl`."""

    def __init__(
        self,
        registry: StationRegistry,
        presence: PresenceCache,
        node_id: str,
        live: Callable[[], frozenset[str]],
        send: Send,
        response_timeout_s: float,
    ) -> None:
        self.registry = registry
        self.presence = presence
        self.node_id = node_id
        self._live = live
        self._send = send
        self.timeout_s = response_timeout_s + FORWARD_MARGIN_S
        self.ack_s = ACK_S
        self._waiting: dict[str, asyncio.Future[envelope.CallAnswer]] = {}
        self._acks: dict[str, asyncio.Event] = {}
        self._serving: set[asyncio.Task[None]] = set()

    def _route(self, station_id: str) -> Route:
        # Only an open session wins: one still closing here (its station already moved on and
        # reconnected elsewhere) must not hide the new holder.
        return route(
            self.registry.is_online(station_id),
            self.presence.owner(station_id),
            self.node_id,
            self._live(),
        )

    # -- StationLink ---------------------------------------------------------------------------
    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        target = self._route(station_id)
        try:
            answer = await self._call_at(target, station_id, action, payload)
        except _Unacknowledged as moved:
            metrics.FORWARDED.labels("rerouted").inc()
            answer = await self._call_at(moved.target, station_id, action, payload, again=True)
        if _offline(answer):
            # The station left that node a moment ago: if presence now names another holder
            # (or this node), the CALL goes there, once — it was never sent to the station.
            again = self._route(station_id)
            if again != target and again is not OFFLINE:
                answer = await self._call_at(again, station_id, action, payload, again=True)
        if target is not LOCAL:
            outcome = "answered" if answer.error is None else answer.error.kind
            metrics.FORWARDED.labels(outcome).inc()
        result: dict[str, Any] = envelope.raise_answer(answer, station_id, action, self.timeout_s)
        return result

    async def _call_at(
        self,
        target: Route,
        station_id: str,
        action: str,
        payload: dict[str, Any],
        again: bool = False,
    ) -> envelope.CallAnswer:
        if target is LOCAL:
            result = await self.registry.call(station_id, action, payload)
            return envelope.CallAnswer("local", result=result)
        if target.node_id is None:
            raise StationOffline(station_id)
        return await self._forward(target.node_id, station_id, action, payload, reroute=not again)

    def is_online(self, station_id: str) -> bool:
        if self.registry.is_online(station_id):
            return True
        return self._route(station_id).kind == "remote"

    def online_ids(self) -> list[str]:
        live = self._live()
        remote = {
            sid for sid, node in self.presence.items() if node != self.node_id and node in live
        }
        return sorted(remote.union(self.registry.online_ids()))

    # -- StationControl ------------------------------------------------------------------------
    def last_seen(self, station_id: str) -> float | None:
        if self.registry.get(station_id) is not None:
            return self.registry.last_seen(station_id)
        if self._route(station_id).kind == "remote":
            return self.presence.since(station_id)
        return None

    async def disconnect(self, station_id: str, code: int, reason: str) -> bool:
        target = self._route(station_id)
        if target is LOCAL:
            return await self.registry.disconnect(station_id, code, reason)
        if target.node_id is None:
            return False
        payload = {"code": code, "reason": reason}
        answer = await self._forward(target.node_id, station_id, DISCONNECT, payload)
        if answer.error is not None or answer.result is None:
            return False
        return bool(answer.result.get("closed"))

    # -- forwarding ----------------------------------------------------------------------------
    async def _forward(
        self,
        node_id: str,
        station_id: str,
        action: str,
        payload: dict[str, Any],
        reroute: bool = True,
    ) -> envelope.CallAnswer:
        """The owner's answer. Unacknowledged within `ack_s` while presence now names another
        route: `_Unacknowledged` (when `reroute`); else wait out the whole timeout."""
        request_id = uuid.uuid4().hex
        future: asyncio.Future[envelope.CallAnswer] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        acked = self._acks[request_id] = asyncio.Event()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        try:
            request = envelope.CallRequest(request_id, self.node_id, station_id, action, payload)
            await self._send(node_id, request)
            if reroute:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(acked.wait(), min(self.ack_s, self.timeout_s))
                now = self._route(station_id)
                if not acked.is_set() and now != Route("remote", node_id) and now is not OFFLINE:
                    log.warning(
                        "cluster: node %s did not take %s for %s; sending it to %s",
                        node_id,
                        action,
                        station_id,
                        now.node_id or "this node",
                    )
                    raise _Unacknowledged(now)
            return await asyncio.wait_for(future, max(0.0, deadline - loop.time()))
        except TimeoutError:
            metrics.FORWARDED.labels("CallTimeout").inc()
            raise CallTimeout(station_id, action, self.timeout_s) from None
        finally:
            self._waiting.pop(request_id, None)
            self._acks.pop(request_id, None)

    def acknowledged(self, ack: envelope.Ack) -> None:
        event = self._acks.get(ack.id)
        if event is not None:
            event.set()

    def answered(self, answer: envelope.CallAnswer) -> None:
        """An answer arrived on this node's channel (late ones are dropped)."""
        self.acknowledged(envelope.Ack(answer.id))
        future = self._waiting.get(answer.id)
        if future is not None and not future.done():
            future.set_result(answer)

    def requested(self, request: envelope.CallRequest) -> None:
        """Another node forwards a CALL for a station held here: run it, answer it."""
        task = asyncio.create_task(self._serve(request), name=f"forwarded-{request.action}")
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)

    async def _serve(self, request: envelope.CallRequest) -> None:
        answer: envelope.CallAnswer
        try:
            await self._send(request.reply_to, envelope.Ack(request.id))
        except Exception as exc:  # the database is away: the caller times out
            log.warning("cluster: CALL from %s not acknowledged: %r", request.reply_to, exc)
            return
        try:
            if self.registry.get(request.station_id) is None:
                message = f"station {request.station_id} is offline"
                error = envelope.CallError(envelope.NOT_HELD, message)
                answer = envelope.CallAnswer(request.id, error=error)
            elif request.action == DISCONNECT:
                code = int(request.payload.get("code", 1000))
                reason = str(request.payload.get("reason", ""))
                closed = await self.registry.disconnect(request.station_id, code, reason)
                answer = envelope.CallAnswer(request.id, result={"closed": closed})
            else:
                result = await self.registry.call(
                    request.station_id, request.action, request.payload
                )
                answer = envelope.CallAnswer(request.id, result=result)
        except CallFailed as exc:
            answer = envelope.CallAnswer(request.id, error=envelope.error_of(exc))
        except Exception as exc:  # anything else still gets an answer, not a silent timeout
            log.exception("cluster: forwarded %s to %s failed", request.action, request.station_id)
            answer = envelope.CallAnswer(
                request.id, error=envelope.CallError("CallFailed", f"{type(exc).__name__}: {exc}")
            )
        try:
            await self._send(request.reply_to, answer)
        except Exception as exc:  # the database is away: the caller times out
            log.warning("cluster: answer to %s not sent: %r", request.reply_to, exc)

    async def close(self) -> None:
        for task in list(self._serving):
            task.cancel()
        await asyncio.gather(*self._serving, return_exceptions=True)


class HeldHere:
    """A `StationLink` for a service that looks after the stations this node holds (the
    configuration workers): `online_ids` lists only those, so a node starting up does not take
    over the others' stations; `call` and `is_online` still reach the whole cluster (an
    operator's request through this node's API)."""

    def __init__(self, link: ClusterLink) -> None:
        self.link = link

    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.link.call(station_id, action, payload)

    def is_online(self, station_id: str) -> bool:
        return self.link.is_online(station_id)

    def online_ids(self) -> list[str]:
        return self.link.registry.online_ids()
