"""One station's OCPP-J session: framing, dispatch of incoming CALLs, and outgoing CALLs.

The session owns the websocket. Incoming CALLs are handled in order (a station has at most one in
flight); the answer is sent only after the handler returns, i.e. after its data is stored. Outgoing
CALLs go through a lock so exactly one is in flight; the answer is matched by unique id, so a
reply arriving after its timeout is dropped instead of being paired with the next request.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from csms.ocpp import errors
from csms.ocpp.validation import STATION_ACTIONS, validate_request

log = logging.getLogger(__name__)

CALL, CALLRESULT, CALLERROR = 2, 3, 4

Handler = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]


def _dumps(message: list[Any]) -> str:
    return orjson.dumps(message).decode()


def _error_frame(unique_id: str, code: str, description: str, details: Any = None) -> str:
    return _dumps([CALLERROR, unique_id, code, description[:255], details or {}])


class StationSession:
    """A connected station; `run()` reads frames until the socket closes."""

    def __init__(
        self,
        station_id: str,
        ws: ServerConnection,
        handle: Handler,
        response_timeout: float,
        clock: Callable[[], float],
    ) -> None:
        self.station_id = station_id
        self.ws = ws
        self._handle = handle
        self._response_timeout = response_timeout
        self._clock = clock
        self._call_lock = asyncio.Lock()
        self._pending: tuple[str, asyncio.Future[Any]] | None = None
        self.connected_at = clock()
        self.last_seen = self.connected_at
        self.closed = asyncio.Event()

    # -- incoming -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Read frames until the connection ends; never raises for bad input."""
        try:
            async for frame in self.ws:
                self.last_seen = self._clock()
                reply = await self._on_frame(frame)
                if reply is not None:
                    await self.ws.send(reply)
        except ConnectionClosed:
            pass
        finally:
            self._fail_pending()
            self.closed.set()

    async def _on_frame(self, frame: str | bytes) -> str | None:
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return _error_frame("-1", errors.FORMATION_VIOLATION, "frame is not valid JSON")
        if not isinstance(message, list) or len(message) < 3:
            return _error_frame(
                "-1", errors.FORMATION_VIOLATION, "frame must be a JSON array [type, id, …]"
            )
        type_id, unique_id = message[0], message[1]
        if not isinstance(unique_id, str) or len(unique_id) > 36:
            return _error_frame("-1", errors.FORMATION_VIOLATION, "unique id must be a string ≤ 36")
        if type_id == CALL:
            if len(message) != 4 or not isinstance(message[2], str):
                return _error_frame(
                    unique_id, errors.FORMATION_VIOLATION, "CALL must be [2, id, action, payload]"
                )
            return await self._on_call(unique_id, message[2], message[3])
        if type_id == CALLRESULT and len(message) == 3:
            self._resolve(unique_id, result=message[2])
            return None
        if type_id == CALLERROR and len(message) in (4, 5):
            details = message[4] if len(message) == 5 else {}
            self._resolve(
                unique_id,
                error=errors.CallErrorReceived(str(message[2]), str(message[3]), details),
            )
            return None
        return _error_frame(
            unique_id, errors.FORMATION_VIOLATION, f"unknown message type id {type_id!r}"
        )

    async def _on_call(self, unique_id: str, action: str, payload: Any) -> str:
        try:
            validate_request(action, payload)
            result = await self._handle(self.station_id, action, payload)
        except errors.OcppCallError as exc:
            if action in STATION_ACTIONS or exc.code != errors.NOT_IMPLEMENTED:
                log.info("%s: %s rejected: %s", self.station_id, action, exc)
            return _error_frame(unique_id, exc.code, exc.description, exc.details)
        except Exception:
            log.exception("%s: handler for %s failed", self.station_id, action)
            return _error_frame(unique_id, errors.INTERNAL_ERROR, f"{action} could not be handled")
        return _dumps([CALLRESULT, unique_id, result])

    # -- outgoing -----------------------------------------------------------------------------
    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CALL and wait for its answer (one in flight; others wait their turn)."""
        async with self._call_lock:
            if self.closed.is_set():
                raise errors.StationOffline(self.station_id)
            unique_id = str(uuid.uuid4())
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._pending = (unique_id, future)
            try:
                await self.ws.send(_dumps([CALL, unique_id, action, payload]))
                async with asyncio.timeout(self._response_timeout):
                    result = await future
            except TimeoutError:
                raise errors.CallTimeout(self.station_id, action, self._response_timeout) from None
            except ConnectionClosed:
                raise errors.StationOffline(self.station_id) from None
            finally:
                self._pending = None
                if future.done() and not future.cancelled():
                    future.exception()  # retrieved: the socket may have failed it while we sent
            if not isinstance(result, dict):
                raise errors.CallFailed(f"station answered {action} with a non-object payload")
            return result

    def _resolve(self, unique_id: str, result: Any = None, error: Exception | None = None) -> None:
        if self._pending is None or self._pending[0] != unique_id:
            log.warning(
                "%s: answer %s matches no pending call; dropped", self.station_id, unique_id
            )
            return
        future = self._pending[1]
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def _fail_pending(self) -> None:
        if self._pending is not None and not self._pending[1].done():
            self._pending[1].set_exception(errors.StationOffline(self.station_id))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.ws.close(code, reason)
