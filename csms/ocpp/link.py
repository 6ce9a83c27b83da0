"""How services reach stations: the narrow interfaces they are handed instead of the registry.

`StationRegistry` (csms/ocpp/registry.py) implements both today, for stations connected to this
process; a cluster router can implement them later for stations connected to another node,
without a service noticing. Services type their argument with these protocols, never with the
registry or the central system.
"""

from __future__ import annotations

from typing import Any, Protocol


class StationLink(Protocol):
    """Send a station a CALL and know which stations are online: all a service needs."""

    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The station's answer; raises `CallFailed` (`StationOffline` when not connected)."""
        ...

    def is_online(self, station_id: str) -> bool:
        """Connected with an open link."""
        ...

    def online_ids(self) -> list[str]:
        """The ids of every online station, sorted."""
        ...


class StationControl(StationLink, Protocol):
    """What the operator's API needs on top: when a station was last heard, and closing its link
    (a rejected station)."""

    def last_seen(self, station_id: str) -> float | None:
        """When its current session last received a frame; None without a session."""
        ...

    async def disconnect(self, station_id: str, code: int, reason: str) -> bool:
        """Close the station's session; False when it has none."""
        ...
