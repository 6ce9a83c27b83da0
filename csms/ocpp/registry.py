"""Which stations are connected, and the one way to send them a CALL."""

from __future__ import annotations

import logging
from typing import Any

from csms.ocpp.errors import StationOffline
from csms.ocpp.session import StationSession

log = logging.getLogger(__name__)


class StationRegistry:
    """One session per station id; a reconnect replaces (and closes) the old session."""

    def __init__(self) -> None:
        self._sessions: dict[str, StationSession] = {}

    def get(self, station_id: str) -> StationSession | None:
        return self._sessions.get(station_id)

    def is_online(self, station_id: str) -> bool:
        session = self._sessions.get(station_id)
        return session is not None and not session.closed.is_set()

    def online_ids(self) -> list[str]:
        return sorted(sid for sid in self._sessions if self.is_online(sid))

    async def attach(self, session: StationSession) -> None:
        """Make `session` the station's session, closing a previous one."""
        old = self._sessions.get(session.station_id)
        self._sessions[session.station_id] = session
        if old is not None and old is not session:
            log.info("%s reconnected; closing its previous session", session.station_id)
            await old.close(1000, "replaced by a new connection")

    def detach(self, session: StationSession) -> bool:
        """Forget the session if it is still current; True when the station is now offline."""
        if self._sessions.get(session.station_id) is session:
            del self._sessions[session.station_id]
            return True
        return False

    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CALL to a connected station. See `StationSession.call` for the guarantees."""
        session = self._sessions.get(station_id)
        if session is None or session.closed.is_set():
            raise StationOffline(station_id)
        return await session.call(action, payload)

    async def close_all(
        self, code: int = 1001, reason: str = "central system shutting down"
    ) -> None:
        for session in list(self._sessions.values()):
            await session.close(code, reason)
