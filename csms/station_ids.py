"""What a station id may be: the same rules at the handshake, in settings and in API bodies.

A CiString of at most 48 printable ASCII characters (the OCPP 2.0.1 / security whitepaper identity;
Alfen ids are at most 20), no surrounding whitespace, no path separators. Shared by the OCPP shell,
the settings and the API, so it lives below all of them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

STATION_ID_MAX_LENGTH = 48


def station_id_problem(station_id: str) -> str | None:
    """Why `station_id` is not a valid station id, or None when it is."""
    if not station_id:
        return "station id is empty"
    if len(station_id) > STATION_ID_MAX_LENGTH:
        return f"station id is longer than {STATION_ID_MAX_LENGTH} characters"
    if station_id != station_id.strip():
        return "station id has leading or trailing whitespace"
    for char in station_id:
        if not (" " <= char <= "~"):
            return f"station id contains {char!r} (only printable ASCII is allowed)"
        if char in "/\\":
            return f"station id contains {char!r}"
    return None


def _checked_station_id(station_id: str) -> str:
    problem = station_id_problem(station_id)
    if problem is not None:
        raise ValueError(problem)
    return station_id


# A station id in settings and API bodies: the same rules as at the handshake.
StationId = Annotated[
    str, Field(min_length=1, max_length=STATION_ID_MAX_LENGTH), AfterValidator(_checked_station_id)
]
