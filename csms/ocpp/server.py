"""The websocket endpoint stations connect to: `ws(s)://HOST:PORT/ocpp/{id}` or `/{id}`.

The handshake is where we refuse: an unknown path, no `ocpp1.6` subprotocol offered, a rejected or
(under policy `reject`) unknown station, or bad HTTP Basic credentials. After the handshake the
station gets a `StationSession` registered under its id.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import ssl
from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from csms import events
from csms.auth import verify_password
from csms.ocpp.handlers import Handlers
from csms.ocpp.registry import StationRegistry
from csms.ocpp.session import StationSession, session_policy
from csms.settings import Settings
from csms.storage import Store

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"


def station_id_from_path(path: str, prefix: str) -> str | None:
    """The station id of `/PREFIX/{id}` or `/{id}`; None for anything else."""
    path = path.split("?", 1)[0]
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    parts = path.split("/")
    if len(parts) != 2 or parts[0] != "" or not parts[1]:
        return None
    station_id = unquote(parts[1])
    if len(station_id) > 64 or any(c in station_id for c in "/\\") or not station_id.isprintable():
        return None
    return station_id


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

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(next(iter(self._server.sockets)).getsockname()[1])

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.settings.tls_cert is None or self.settings.tls_key is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.settings.tls_cert, self.settings.tls_key)
        return context

    async def start(self) -> None:
        s = self.settings
        self._server = await serve(
            self._connection,
            s.ocpp_host,
            s.ocpp_port,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            process_request=self._check_handshake,
            # Each session pings itself and aborts a dead link after ping_interval_s +
            # ping_timeout_s (websockets' keepalive would then wait close_timeout more).
            ping_interval=None,
            close_timeout=session_policy(s).close_timeout_s,
            max_size=s.max_frame_bytes,
            ssl=self._ssl_context(),
            server_header="csms",
        )

    async def stop(self) -> None:
        """Stop accepting, close every session (1001) and wait for their handlers to finish."""
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
        offered = ",".join(request.headers.get_all("Sec-WebSocket-Protocol"))
        if SUBPROTOCOL not in [p.strip() for p in offered.split(",")]:
            return conn.respond(HTTPStatus.BAD_REQUEST, "subprotocol ocpp1.6 required\n")
        row = await self.store.stations.get(station_id)
        if row is None:
            policy = self.settings.unknown_stations
            if policy == "reject":
                log.warning("refused unknown station %s (policy reject)", station_id)
                return conn.respond(HTTPStatus.FORBIDDEN, "unknown station\n")
            row = await self.store.stations.create(
                station_id, "accepted" if policy == "accept" else "pending", self.clock()
            )
            log.info("new station %s registered as %s", station_id, row["status"])
        if row["status"] == "rejected":
            return conn.respond(HTTPStatus.FORBIDDEN, "station rejected\n")
        credentials = basic_credentials(request.headers.get("Authorization"))
        if credentials is not None and credentials[0] != station_id:
            log.warning("%s: Basic auth user %r differs from path id", station_id, credentials[0])
            return self._unauthorized(conn)
        # scrypt costs ~30 ms of CPU: in a thread, so a burst of handshakes (every station
        # reconnecting after a restart, or someone guessing) does not stall the event loop.
        if row["password_hash"] and (
            credentials is None
            or not await asyncio.to_thread(verify_password, credentials[1], row["password_hash"])
        ):
            log.warning("%s: wrong or missing password", station_id)
            return self._unauthorized(conn)
        conn.station_id = station_id  # type: ignore[attr-defined]
        return None

    @staticmethod
    def _unauthorized(conn: ServerConnection) -> Response:
        response = conn.respond(HTTPStatus.UNAUTHORIZED, "authentication failed\n")
        response.headers["WWW-Authenticate"] = 'Basic realm="ocpp", charset="UTF-8"'
        return response

    async def _connection(self, ws: ServerConnection) -> None:
        station_id: str = ws.station_id  # type: ignore[attr-defined]
        session = StationSession(
            station_id,
            ws,
            self.handlers,
            self.settings.response_timeout_s,
            self.clock,
            session_policy(self.settings),
        )
        await self.registry.attach(session)
        now = self.clock()
        await self.store.stations.set_online(station_id, True, now)
        self.bus.publish(events.StationConnected(station_id, now))
        log.info("%s connected from %s", station_id, ws.remote_address)
        try:
            await session.run()
        finally:
            if self.registry.detach(session):
                now = self.clock()
                await self.store.stations.set_online(station_id, False, now)
                self.bus.publish(events.StationDisconnected(station_id, now))
                log.info("%s disconnected", station_id)
