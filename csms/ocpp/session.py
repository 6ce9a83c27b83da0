"""One station's OCPP-J session: framing, dispatch of incoming CALLs, and outgoing CALLs.

The session owns the websocket. Incoming CALLs are handled in order (a station has at most one in
flight); the answer is sent only after the handler returns, i.e. after its data is stored. Outgoing
CALLs go through a lock so exactly one is in flight; the answer is matched by unique id, so a
reply arriving after its timeout is dropped instead of being paired with the next request.

Against stations that are not ready or not honest:

- No CALL is written before the station is ready (`bootgate.BootGate`): CALLs wait for the gate,
  then keep the one-in-flight rule and the response timeout; a station refused at boot gets none.
- Each station has a fair share of the server (`ratelimit.TokenBucket`): past its burst, frames
  are read at its rate and the rest wait in TCP; honest stations (one CALL in flight) are only
  paced, never refused. A station that keeps sending frames we must refuse while over its rate is
  closed with 1008. Repeated rejections are logged once per interval with a count.
- Frames nested deeper than `MAX_NESTING` are answered FormationViolation (the session stays).
- A link that stops answering pings is dropped `ping_interval_s + ping_timeout_s` after its last
  pong at the latest: the transport is aborted, no closing handshake is awaited on a dead link.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from csms.logs import station_id_var
from csms.ocpp import errors, metrics
from csms.ocpp.bootgate import BootGate, GateState
from csms.ocpp.frames import (
    CALL,
    CALLERROR,
    CALLRESULT,
    MAX_NESTING,
    Outcome,
    dumps,
    error_frame,
    is_unique_id,
    may_nest_deeper_than,
    nested_deeper_than,
)
from csms.ocpp.ratelimit import RepeatFilter, TokenBucket
from csms.ocpp.validation import STATION_ACTIONS, validate_request
from csms.settings import Settings

log = logging.getLogger(__name__)

# A rejected frame is logged once per interval per session, then "N more suppressed".
REJECT_LOG_INTERVAL_S = 10.0
# Consecutive frames refused while the station is over its rate before it is closed (1008).
ABUSE_LIMIT = 20

Handler = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]


class StationRefused(errors.CallFailed):
    """The station's BootNotification was answered Rejected in this session: no CALLs."""

    def __init__(self, station_id: str) -> None:
        super().__init__(f"station {station_id} was refused at boot; no CALLs are sent")
        self.station_id = station_id


@dataclass(frozen=True)
class SessionPolicy:
    """How a session treats its station; from the settings of the same names."""

    boot_grace_s: float = 30.0
    message_rate_per_s: float = 20.0
    message_burst: int = 200
    ping_interval_s: float | None = 20.0
    ping_timeout_s: float = 20.0
    close_timeout_s: float = 5.0


def session_policy(s: Settings) -> SessionPolicy:
    """The sessions' limits from the settings."""
    return SessionPolicy(
        boot_grace_s=s.boot_grace_s,
        message_rate_per_s=s.message_rate_per_s,
        message_burst=s.message_burst,
        ping_interval_s=s.ping_interval_s,
        ping_timeout_s=s.ping_timeout_s,
        # Bounds a closing handshake we start (shutdown, replaced or abusive sessions): a healthy
        # station answers a close frame within a round trip.
        close_timeout_s=min(s.ping_timeout_s, 5.0),
    )


class Flag:
    """A set-once flag that nobody awaits: `asyncio.Event` without its waiters' deque (860 bytes
    per session)."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


class StationSession:
    """A connected station; `run()` reads frames until the socket closes.

    Slotted, and without a task of its own between pings (the keepalive is a timer that starts a
    short ping task when due): tens of thousands of idle sessions live in one process.
    """

    __slots__ = (
        "_bucket", "_call_lock", "_clock", "_gate_changed", "_handle", "_keepalive_task",
        "_pending", "_ping_timer", "_reject_log", "_response_timeout", "_strikes", "closed",
        "connected_at", "frames_paced", "frames_refused", "gate", "last_seen", "policy",
        "station_id", "ws",
    )  # fmt: skip

    def __init__(
        self,
        station_id: str,
        ws: ServerConnection,
        handle: Handler,
        response_timeout: float,
        clock: Callable[[], float],
        policy: SessionPolicy | None = None,
    ) -> None:
        self.station_id = station_id
        self.ws = ws
        self._handle = handle
        self._response_timeout = response_timeout
        self._clock = clock
        self.policy = policy or SessionPolicy()
        self._call_lock = asyncio.Lock()
        self._pending: tuple[str, asyncio.Future[Any]] | None = None
        self.connected_at = clock()
        self.last_seen = self.connected_at
        self.closed = Flag()
        loop_now = asyncio.get_running_loop().time()
        self.gate = BootGate(self.policy.boot_grace_s, loop_now)
        # Set while an outgoing CALL waits for the boot gate: resolved when the gate may have moved.
        self._gate_changed: asyncio.Future[None] | None = None
        self._bucket = TokenBucket(
            self.policy.message_rate_per_s, self.policy.message_burst, loop_now
        )
        self._reject_log = RepeatFilter(REJECT_LOG_INTERVAL_S)
        self._strikes = 0  # consecutive frames refused while over the rate
        self.frames_paced = 0
        self.frames_refused = 0
        self._keepalive_task: asyncio.Task[None] | None = None  # a ping in flight
        self._ping_timer: asyncio.TimerHandle | None = None

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    # -- incoming -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Read frames until the connection ends; never raises for bad input."""
        station_id_var.set(self.station_id)  # tags this task's log records (csms.logs)
        self._schedule_ping()
        try:
            while True:
                # Undecoded: orjson parses UTF-8 bytes 2.7 times faster than a str (25 → 9 µs
                # for a 33-key GetConfiguration answer), and checks the UTF-8 itself.
                frame = await self.ws.recv(decode=False)
                if await self._serve(frame):
                    break
                del frame  # an idle session holds nothing of its last frame (up to 64 KB)
        except ConnectionClosed:
            pass
        finally:
            self._fail_pending()
            self.closed.set()
            self._wake_gate_waiter()
            suppressed = self._reject_log.pending()
            if suppressed:
                log.info("%s: %d more rejected frames not logged", self.station_id, suppressed)
            if self._ping_timer is not None:
                self._ping_timer.cancel()
                self._ping_timer = None
            if self._keepalive_task is not None:
                self._keepalive_task.cancel()  # referenced until it has finished

    def _wake_gate_waiter(self) -> None:
        if self._gate_changed is not None and not self._gate_changed.done():
            self._gate_changed.set_result(None)

    async def _serve(self, frame: str | bytes) -> bool:
        """Handle one frame and send its answer; True when the session must end (abuse)."""
        self.last_seen = self._clock()
        wait = self._bucket.take(self._now())
        if wait > 0:
            self.frames_paced += 1
        # Always yield: a station whose frames are already queued must not keep the event loop
        # from the others.
        await asyncio.sleep(wait)
        outcome = await self._on_frame_guarded(frame)
        if outcome.reply is not None:
            await self.ws.send(outcome.reply)
        if outcome.action is not None:
            self.gate.on_answer_sent(outcome.action, outcome.result)
            self._wake_gate_waiter()
        return await self._abusive(outcome.refused, over_rate=wait > 0)

    async def _on_frame_guarded(self, frame: str | bytes) -> Outcome:
        """`_on_frame`, with any unexpected failure answered instead of ending the session."""
        try:
            return await self._on_frame(frame)
        except Exception:
            if self._admit_log():
                log.exception("%s: frame could not be handled", self.station_id)
            return Outcome(
                error_frame("-1", errors.INTERNAL_ERROR, "frame could not be handled"), True
            )

    async def _abusive(self, refused: bool, over_rate: bool) -> bool:
        """Count refused frames sent over the rate; close the socket (1008) when they go on."""
        if refused:
            self.frames_refused += 1
        if not over_rate or not refused:
            self._strikes = 0
            return False
        self._strikes += 1
        if self._strikes == 1:
            self._shrink_receive_buffer()
        if self._strikes < ABUSE_LIMIT:
            return False
        log.warning(
            "%s: closing the connection (1008): %d frames refused in a row while over the "
            "message rate (%g/s, burst %d)",
            self.station_id,
            self._strikes,
            self.policy.message_rate_per_s,
            self.policy.message_burst,
        )
        # Read nothing more: the junk queued before its reply to our close frame would cost as
        # much as the flood itself. The closing handshake then ends by the close timeout.
        self.ws.transport.pause_reading()
        await self.close(1008, "message rate exceeded with invalid frames")
        return True

    def _shrink_receive_buffer(self) -> None:
        """Let the kernel take little more from a station that floods junk: what it queues is
        copied and buffered for nothing (an honest station never gets here)."""
        sock = self.ws.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)

    def _admit_log(self) -> bool:
        suppressed = self._reject_log.admit(self._now())
        if suppressed:
            log.info("%s: %d more rejected frames not logged", self.station_id, suppressed)
        return suppressed is not None

    def _formation(self, unique_id: str, description: str) -> Outcome:
        return Outcome(error_frame(unique_id, errors.FORMATION_VIOLATION, description), True)

    async def _on_frame(self, frame: str | bytes) -> Outcome:
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:  # also what orjson says beyond 1024 levels
            return self._formation("-1", "frame is not valid JSON")
        if not isinstance(message, list) or len(message) < 3:
            return self._formation("-1", "frame must be a JSON array [type, id, …]")
        type_id, unique_id = message[0], message[1]
        if not is_unique_id(unique_id):
            return self._formation("-1", "unique id must be a string ≤ 36")
        if may_nest_deeper_than(frame, MAX_NESTING) and nested_deeper_than(message, MAX_NESTING):
            if type_id in (CALLRESULT, CALLERROR):
                self._resolve(
                    unique_id, error=errors.CallFailed(f"answer nested deeper than {MAX_NESTING}")
                )
            return self._formation(unique_id, f"frame nested deeper than {MAX_NESTING} levels")
        if type_id == CALL:
            if len(message) != 4 or not isinstance(message[2], str):
                return self._formation(unique_id, "CALL must be [2, id, action, payload]")
            return await self._on_call(unique_id, message[2], message[3])
        if type_id == CALLRESULT and len(message) == 3:
            return Outcome(None, not self._resolve(unique_id, result=message[2]))
        if type_id == CALLERROR and len(message) in (4, 5):
            code, description = message[2], message[3]
            details = message[4] if len(message) == 5 else {}
            if not isinstance(code, str) or not isinstance(description, str):
                self._resolve(unique_id, error=errors.CallFailed("malformed CALLERROR answer"))
                return self._formation(unique_id, "CALLERROR code and description must be strings")
            error = errors.CallErrorReceived(code, description, details)
            return Outcome(None, not self._resolve(unique_id, error=error))
        shown = repr(type_id) if isinstance(type_id, (int, float, str, bool)) else "of that type"
        return self._formation(unique_id, f"unknown message type id {shown[:40]}")

    async def _on_call(self, unique_id: str, action: str, payload: Any) -> Outcome:
        self.gate.on_call_received(action)
        label = metrics.station_action(action)
        received, handling = metrics.received_series(label)
        received.inc()
        with handling.time():
            outcome = await self._answer(unique_id, action, payload)
        if outcome.refused and outcome.reply:
            metrics.RECEIVED_ERRORS.labels(label, str(orjson.loads(outcome.reply)[2])).inc()
        return outcome

    async def _answer(self, unique_id: str, action: str, payload: Any) -> Outcome:
        try:
            validate_request(action, payload)
            result = await self._handle(self.station_id, action, payload)
        except errors.OcppCallError as exc:
            if (action in STATION_ACTIONS or exc.code != errors.NOT_IMPLEMENTED) and (
                self._admit_log()
            ):
                log.info("%s: %s rejected: %s", self.station_id, action[:40], exc)
            return Outcome(
                error_frame(unique_id, exc.code, exc.description, exc.details), True, action
            )
        except Exception:
            if self._admit_log():
                log.exception("%s: handler for %s failed", self.station_id, action[:40])
            reply = error_frame(
                unique_id, errors.INTERNAL_ERROR, f"{action[:40]} could not be handled"
            )
            return Outcome(reply, True, action)
        return Outcome(dumps([CALLRESULT, unique_id, result]), False, action, result)

    # -- liveness -----------------------------------------------------------------------------
    def _schedule_ping(self) -> None:
        """The next ping `ping_interval_s` from now (after the last pong): a timer, not a task."""
        interval = self.policy.ping_interval_s
        if interval is not None and not self.closed.is_set():
            self._ping_timer = asyncio.get_running_loop().call_later(interval, self._ping_due)

    def _ping_due(self) -> None:
        self._ping_timer = None
        if not self.closed.is_set():
            self._keepalive_task = asyncio.create_task(self._ping())

    async def _ping(self) -> None:
        """Ping; abort the transport when the pong takes over `ping_timeout_s`, else schedule the
        next ping.

        Aborting (no closing handshake) is what makes the bound interval + timeout: a dead link
        would never finish a closing handshake, and a peer that stopped reading could even hold
        the ping itself in flow control. Both waits are inside the timeout.
        """
        timeout = self.policy.ping_timeout_s
        try:
            async with asyncio.timeout(timeout):
                pong = await self.ws.ping()
                await pong
        except TimeoutError:
            log.warning("%s: no pong within %g s; dropping the dead link", self.station_id, timeout)
            self.ws.transport.abort()
            return
        except ConnectionClosed:
            return
        finally:
            self._keepalive_task = None
        self._schedule_ping()

    # -- outgoing -----------------------------------------------------------------------------
    async def _wait_until_ready(self) -> None:
        """Wait for the boot gate; raise when the station is refused or gone."""
        while True:
            if self.closed.is_set():
                raise errors.StationOffline(self.station_id)
            state = self.gate.state_at(self._now())
            if state is GateState.READY:
                return
            if state is GateState.REFUSED:
                raise StationRefused(self.station_id)
            changed = self._gate_changed = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(self.gate.wait_s(self._now())):
                    await changed
            except TimeoutError:
                pass  # the grace time is over: look again
            finally:
                self._gate_changed = None

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CALL and wait for its answer (one in flight; others wait their turn).

        Waits first until the station is ready (see `bootgate`); raises `StationRefused` when
        its BootNotification was answered Rejected, `StationOffline` when the session ends.
        """
        async with self._call_lock:
            await self._wait_until_ready()
            # No await between the gate check and the write: a BootNotification read meanwhile
            # cannot slip in between.
            unique_id = str(uuid.uuid4())
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._pending = (unique_id, future)
            try:
                await self.ws.send(dumps([CALL, unique_id, action, payload]))
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

    def _resolve(self, unique_id: str, result: Any = None, error: Exception | None = None) -> bool:
        """Complete the pending CALL `unique_id`; False when the answer matches none."""
        if self._pending is None or self._pending[0] != unique_id:
            if self._admit_log():
                log.warning(
                    "%s: answer %s matches no pending call; dropped", self.station_id, unique_id
                )
            return False
        future = self._pending[1]
        if future.done():
            return True
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
        return True

    def _fail_pending(self) -> None:
        if self._pending is not None and not self._pending[1].done():
            self._pending[1].set_exception(errors.StationOffline(self.station_id))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with a closing handshake bounded by `close_timeout_s`, then abort.

        websockets bounds the wait for the peer's close frame, but not writing our own: a peer
        that stopped reading would hold it in flow control for as long as TCP keeps trying.
        """
        try:
            async with asyncio.timeout(self.policy.close_timeout_s):
                await self.ws.close(code, reason)
        except TimeoutError:
            self.ws.transport.abort()
