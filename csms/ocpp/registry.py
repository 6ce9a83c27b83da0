"""Which stations are connected, and the one way to send them a CALL.

`StationRegistry` implements `StationLink` and `StationControl` (csms/ocpp/link.py) for the
stations connected to this process; services and the API see only those interfaces.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from websockets.protocol import State

from csms.ocpp import metrics
from csms.ocpp.errors import CallFailed, StationOffline
from csms.ocpp.session import StationSession

log = logging.getLogger(__name__)


class StationRegistry:
    """One session per station id; a reconnect replaces (and closes) the old session."""

    def __init__(self) -> None:
        self._sessions: dict[str, StationSession] = {}
        # Closings of replaced sessions, kept referenced until they finish.
        self._closing: set[asyncio.Task[None]] = set()

    def get(self, station_id: str) -> StationSession | None:
        return self._sessions.get(station_id)

    def is_online(self, station_id: str) -> bool:
        """Connected with an open link: a session that is closing (ours or a dead link whose
        ping timed out, waiting for a closing handshake that may never come) is offline."""
        session = self._sessions.get(station_id)
        return (
            session is not None and not session.closed.is_set() and session.ws.state is State.OPEN
        )

    def online_ids(self) -> list[str]:
        return sorted(sid for sid in self._sessions if self.is_online(sid))

    def last_seen(self, station_id: str) -> float | None:
        """When the station's session (even a closing one) last received a frame."""
        session = self._sessions.get(station_id)
        return None if session is None else session.last_seen

    async def disconnect(self, station_id: str, code: int, reason: str) -> bool:
        """Close the station's session (the station is told `code` and `reason`)."""
        session = self._sessions.get(station_id)
        if session is None:
            return False
        await session.close(code, reason)
        return True

    async def attach(self, session: StationSession) -> None:
        """Make `session` the station's session, closing a previous one."""
        old = self._sessions.get(session.station_id)
        self._sessions[session.station_id] = session
        if old is not None and old is not session:
            log.info("%s reconnected; closing its previous session", session.station_id)
            # Not awaited: the old link is usually dead, and its closing handshake would hold
            # up the new session for the whole close timeout (bounded by it, and by shutdown).
            task = asyncio.create_task(old.close(1000, "replaced by a new connection"))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def detach(self, session: StationSession) -> bool:
        """Forget the session if it is still current; True when the station is now offline."""
        if self._sessions.get(session.station_id) is session:
            del self._sessions[session.station_id]
            return True
        return False

    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CALL to a connected station. See `StationSession.call` for the guarantees."""
        label = metrics.cs_action(action)
        metrics.SENT.labels(label).inc()
        try:
            session = self._sessions.get(station_id)
            if session is None or session.closed.is_set():
                raise StationOffline(station_id)
            with metrics.CALL_SECONDS.labels(label).time():
                return await session.call(action, payload)
        except CallFailed as exc:
            metrics.SENT_ERRORS.labels(label, type(exc).__name__).inc()
            raise

    async def close_all(self, code: int = 1012, reason: str = "central system restarting") -> None:
        # Together: one dead link must not delay the others' closing by its close timeout.
        closings = [session.close(code, reason) for session in list(self._sessions.values())]
        await asyncio.gather(*closings, *self._closing, return_exceptions=True)
