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

from csms.cluster import envelope
from csms.cluster.presence import PresenceCache
from csms.ocpp.errors import CallFailed, CallTimeout, StationOffline
from csms.ocpp.registry import StationRegistry

log = logging.getLogger(__name__)

FORWARD_MARGIN_S = 2.0
"""How much longer a caller waits than the owner's response timeout (two NOTIFY hops)."""
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
    """The routing decision: a local session wins (even one the presence cache has not heard
    of yet); else the holding node if it is live and not this node; else offline."""
    if has_session:
        return LOCAL
    if owner is None or owner == me or owner not in live:
        return OFFLINE
    return Route("remote", owner)


Send = Callable[[str, envelope.Message], Awaitable[None]]


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
        self._waiting: dict[str, asyncio.Future[envelope.CallAnswer]] = {}
        self._serving: set[asyncio.Task[None]] = set()

    def _route(self, station_id: str) -> Route:
        return route(
            self.registry.get(station_id) is not None,
            self.presence.owner(station_id),
            self.node_id,
            self._live(),
        )

    # -- StationLink ---------------------------------------------------------------------------
    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        target = self._route(station_id)
        if target is LOCAL:
            return await self.registry.call(station_id, action, payload)
        if target.node_id is None:
            raise StationOffline(station_id)
        answer = await self._forward(target.node_id, station_id, action, payload)
        result: dict[str, Any] = envelope.raise_answer(answer, station_id, action, self.timeout_s)
        return result

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
        self, node_id: str, station_id: str, action: str, payload: dict[str, Any]
    ) -> envelope.CallAnswer:
        request_id = uuid.uuid4().hex
        future: asyncio.Future[envelope.CallAnswer] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            request = envelope.CallRequest(request_id, self.node_id, station_id, action, payload)
            await self._send(node_id, request)
            return await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            raise CallTimeout(station_id, action, self.timeout_s) from None
        finally:
            self._waiting.pop(request_id, None)

    def answered(self, answer: envelope.CallAnswer) -> None:
        """An answer arrived on this node's channel (late ones are dropped)."""
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
            if request.action == DISCONNECT:
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
        with contextlib.suppress(Exception):
            await self._send(request.reply_to, answer)

    async def close(self) -> None:
        for task in list(self._serving):
            task.cancel()
        await asyncio.gather(*self._serving, return_exceptions=True)
