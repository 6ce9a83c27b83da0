"""The websocket endpoint stations connect to: `ws(s)://HOST:PORT/ocpp/{id}` or `/{id}`.

The handshake is where we refuse: an unknown path or an invalid station id, no `ocpp1.6`
subprotocol offered, a rejected station, an unknown one the policy does not register (policy
`reject`; under `pending` too many new ids too fast, or too many waiting for approval), or bad
HTTP Basic credentials. After the handshake the station gets a `StationSession` registered under
its id.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
import ssl
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from csms import events
from csms.auth import verify_password
from csms.ocpp.admission import (
    Refusal,
    TokenBucket,
    look_alikes,
    registration_refusal,
)
from csms.ocpp.handlers import Handlers
from csms.ocpp.pacing import paced_connections
from csms.ocpp.registry import StationRegistry
from csms.ocpp.session import StationSession, session_policy
from csms.settings import Settings
from csms.station_ids import station_id_problem
from csms.storage import Store
from csms.storage.records import StationRecord

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"
REFUSAL_LOG_INTERVAL_S = 10.0
LISTEN_BACKLOG = 4096  # handshakes the kernel holds while we accept (see start())
OPEN_TIMEOUT_S = 10.0  # for the request to arrive, then again for our work on it (pacing.py)


def station_id_from_path(path: str, prefix: str) -> str | None:
    """The (percent-decoded) id of `/PREFIX/{id}` or `/{id}`; None for any other path.

    The bare prefix (`/ocpp`, `/ocpp/`) names no station. Whether the id is a valid station id is
    `csms.station_ids.station_id_problem`'s question.
    """
    path = path.split("?", 1)[0]
    if prefix and path in (prefix, prefix + "/"):
        return None
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    parts = path.split("/")
    if len(parts) != 2 or parts[0] != "" or not parts[1]:
        return None
    return unquote(parts[1])


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class OcppServer:
    """Accepts station connections and runs one session per station."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        registry: StationRegistry,
        bus: events.EventBus,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.bus = bus
        self.clock = clock
        self.handlers = Handlers(settings, store, bus, clock)
        self._server: Server | None = None
        self._port: int | None = None
        self._registering = asyncio.Lock()
        self._registrations = TokenBucket(
            settings.pending_registrations_per_minute / 60, settings.pending_registrations_burst
        )
        self._refusals_logged: dict[str, tuple[float, int]] = {}
        # Per station: attaching and detaching (registry and online row) happen under its lock.
        self._presence: dict[str, asyncio.Lock] = {}

    @property
    def port(self) -> int:
        """The port stations connect to (still known after `stop()`)."""
        assert self._port is not None, "OCPP server not started"
        return self._port

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.settings.tls_cert is None or self.settings.tls_key is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.settings.tls_cert, self.settings.tls_key)
        return context

    async def start(self) -> None:
        s = self.settings
        context = self._ssl_context()
        # With open_timeout=None websockets would leave the TLS handshake to asyncio's 60 s.
        tls: dict[str, Any] = {"ssl_handshake_timeout": OPEN_TIMEOUT_S} if context else {}
        self._server = await serve(
            self._connection,
            s.ocpp_host,
            s.ocpp_port,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            process_request=self._check_handshake,
            # Each session pings itself and aborts a dead link after ping_interval_s +
            # ping_timeout_s (websockets' keepalive would then wait close_timeout more).
            ping_interval=None,
            # The open timeout runs in two parts, around the wait for a handshake's turn.
            open_timeout=None,
            create_connection=paced_connections(s.handshakes_at_once, OPEN_TIMEOUT_S),
            close_timeout=session_policy(s).close_timeout_s,
            max_size=s.max_frame_bytes,
            compression="deflate" if s.websocket_compression == "deflate" else None,
            ssl=context,
            **tls,
            server_header="csms",
            # After a restart every station reconnects at once: with asyncio's default backlog
            # of 100 the kernel drops the other SYNs and stations retry seconds later. Capped by
            # net.core.somaxconn.
            backlog=LISTEN_BACKLOG,
        )
        self._port = int(next(iter(self._server.sockets)).getsockname()[1])

    async def stop(self) -> None:
        """Stop accepting, close every session (1012, service restart: reconnect) and wait for
        their handlers to finish."""
        if self._server is None:
            return
        self._server.close(close_connections=False)
        await self.registry.close_all()
        await self._server.wait_closed()
        self._server = None

    async def _check_handshake(self, conn: ServerConnection, request: Request) -> Response | None:
        station_id = station_id_from_path(request.path, self.settings.ocpp_path_prefix)
        if station_id is None:
            return conn.respond(HTTPStatus.NOT_FOUND, "expected /ocpp/{stationId}\n")
        problem = station_id_problem(station_id)
        if problem is not None:
            # Stations registered before the id rules were this strict may still connect.
            if await self.store.stations.get(station_id) is None:
                log.warning("refused station id %r: %s", station_id, problem)
                return conn.respond(HTTPStatus.BAD_REQUEST, problem + "\n")
            log.warning("registered station id %r breaks the id rules: %s", station_id, problem)
        offered = ",".join(request.headers.get_all("Sec-WebSocket-Protocol"))
        if SUBPROTOCOL not in [p.strip() for p in offered.split(",")]:
            return conn.respond(HTTPStatus.BAD_REQUEST, "subprotocol ocpp1.6 required\n")
        authorization = request.headers.get_all("Authorization")
        if len(authorization) > 1:
            log.warning(
                "%s: refused a handshake with %d Authorization headers",
                station_id,
                len(authorization),
            )
            return conn.respond(HTTPStatus.BAD_REQUEST, "more than one Authorization header\n")
        credentials = basic_credentials(authorization[0] if authorization else None)
        if credentials is not None and credentials[0] != station_id:
            log.warning("%s: Basic auth user %r differs from path id", station_id, credentials[0])
            return self._unauthorized(conn)
        row = await self.store.stations.get(station_id)
        if row is None:
            registered = await self._register(station_id)
            if isinstance(registered, Refusal):
                self._log_refusal(station_id, registered.reason)
                response = conn.respond(HTTPStatus(registered.status), registered.reason + "\n")
                if registered.retry_after_s is not None:
                    response.headers["Retry-After"] = str(
                        max(1, math.ceil(registered.retry_after_s))
                    )
                return response
            row = registered
        if row.status == "rejected":
            return conn.respond(HTTPStatus.FORBIDDEN, "station rejected\n")
        # scrypt costs ~30 ms of CPU: in a thread, so a burst of handshakes (every station
        # reconnecting after a restart, or someone guessing) does not stall the event loop.
        if row.password_hash and (
            credentials is None
            or not await asyncio.to_thread(verify_password, credentials[1], row.password_hash)
        ):
            log.warning("%s: wrong or missing password", station_id)
            return self._unauthorized(conn)
        conn.station_id = station_id  # type: ignore[attr-defined]
        return None

    async def _register(self, station_id: str) -> StationRecord | Refusal:
        """Register an unknown id under the policy, or say why not (rate, cap, policy)."""
        policy = self.settings.unknown_stations
        # One at a time, so the cap on pending stations holds exactly on this node.
        async with self._registering:
            row = await self.store.stations.get(station_id)
            if row is not None:
                return row  # registered by a concurrent handshake
            pending = await self.store.stations.count_pending() if policy == "pending" else 0
            refusal = registration_refusal(
                policy,
                self._registrations,
                asyncio.get_running_loop().time(),
                pending,
                self.settings.max_pending_stations,
            )
            if refusal is not None:
                return refusal
            known = await self.store.stations.ids()
            row = await self.store.stations.create(
                station_id, "accepted" if policy == "accept" else "pending", self.clock()
            )
        log.info("new station %s registered as %s", station_id, row.status)
        similar = look_alikes(station_id, known)
        if similar:
            log.warning(
                "new station id %r looks like %s (differs only by case, whitespace or "
                "look-alike characters): check the station's configuration",
                station_id,
                ", ".join(repr(s) for s in similar),
            )
        return row

    def _log_refusal(self, station_id: str, reason: str) -> None:
        """Log a refused registration: a warning at most every `REFUSAL_LOG_INTERVAL_S` per
        reason (with how many were refused since), the rest at debug level, so a flood of
        made-up ids does not flood the log too."""
        now = asyncio.get_running_loop().time()
        last, quiet = self._refusals_logged.get(reason, (None, 0))
        if last is not None and now - last < REFUSAL_LOG_INTERVAL_S:
            self._refusals_logged[reason] = (last, quiet + 1)
            log.debug("refused unknown station %s: %s", station_id, reason)
            return
        self._refusals_logged[reason] = (now, 0)
        more = f" ({quiet} more refused for this reason since the last warning)" if quiet else ""
        log.warning("refused unknown station %s: %s%s", station_id, reason, more)

    @staticmethod
    def _unauthorized(conn: ServerConnection) -> Response:
        response = conn.respond(HTTPStatus.UNAUTHORIZED, "authentication failed\n")
        response.headers["WWW-Authenticate"] = 'Basic realm="ocpp", charset="UTF-8"'
        return response

    async def _connection(self, ws: ServerConnection) -> None:
        """One station's connection: attach, mark online, run, and always detach again.

        Attaching (registry + online row) and detaching are one guarded unit per station: a
        failed write while connecting still detaches, and the writes of a replaced and a new
        session of the same station cannot overtake each other.
        """
        station_id: str = ws.station_id  # type: ignore[attr-defined]
        session = StationSession(
            station_id,
            ws,
            self.handlers,
            self.settings.response_timeout_s,
            self.clock,
            session_policy(self.settings),
        )
        lock = self._presence.setdefault(station_id, asyncio.Lock())
        announced = False
        try:
            async with lock:
                self.handlers.forget(station_id)  # read its registration afresh
                await self.registry.attach(session)
                now = self.clock()
                try:
                    await self.store.stations.set_online(station_id, True, now)
                except Exception as exc:
                    log.error(
                        "%s: cannot store its online state (%s); closing so it reconnects",
                        station_id,
                        exc,
                    )
                else:
                    announced = True
                    self.bus.publish(events.StationConnected(station_id, now))
                    log.info("%s connected from %s", station_id, ws.remote_address)
            if announced:
                await session.run()
            else:
                await session.close(1011, "central system cannot store the connection")
        finally:
            async with lock:
                if self.registry.detach(session):
                    now = self.clock()
                    if announced:
                        self.bus.publish(events.StationDisconnected(station_id, now))
                        log.info("%s disconnected", station_id)
                    try:
                        await self.store.stations.set_online(station_id, False, now)
                    except Exception as exc:
                        log.error("%s: cannot store its offline state: %s", station_id, exc)
