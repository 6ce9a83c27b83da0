"""Reservations on a simulated station (ReserveNow / CancelReservation), without I/O.

Like an Alfen station: a reserved connector reports `Reserved` until the reservation is used
(a StartTransaction with the reserved idTag, which carries the `reservationId`), cancelled or
expired; meanwhile another idTag cannot start on it. Connector 0 can be reserved only when
`ReserveConnectorZeroSupported` is true (it is not on Alfen firmware).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_id: int
    id_tag: str
    parent_id_tag: str | None
    expiry: float

    def admits(self, id_tag: str | None) -> bool:
        """Whether `id_tag` may use the reserved connector (its own tag, or the group's)."""
        return id_tag is not None and id_tag in (self.id_tag, self.parent_id_tag)


class Reservable(Protocol):
    """What a connector offers to reservations (csms.sim.model.Connector)."""

    reservation: Reservation | None

    @property
    def ev(self) -> object | None: ...
    @property
    def inoperative(self) -> bool: ...
    @property
    def status(self) -> str: ...
    @property
    def in_session(self) -> bool: ...


def reserve(c: Reservable | None, reservation: Reservation, now: float) -> str:
    """ReserveNow's status for connector `c` (None: no such connector); reserves on Accepted."""
    if c is None:
        return "Rejected"
    if reservation.expiry <= now:
        return "Rejected"
    if c.status == "Faulted":
        return "Faulted"
    if c.inoperative:
        return "Unavailable"
    if c.in_session or c.ev is not None:
        return "Occupied"
    current = c.reservation
    if current is not None and current.reservation_id != reservation.reservation_id:
        return "Occupied"
    c.reservation = reservation
    return "Accepted"


def cancel(connectors: list[Reservable], reservation_id: int) -> bool:
    """CancelReservation: True when a connector held it."""
    for c in connectors:
        if c.reservation is not None and c.reservation.reservation_id == reservation_id:
            c.reservation = None
            return True
    return False


def take(c: Reservable, id_tag: str) -> int | None:
    """A session starts on `c` with `id_tag`: the reservation it uses (ended), if any."""
    if c.reservation is not None and c.reservation.admits(id_tag):
        reservation_id = c.reservation.reservation_id
        c.reservation = None
        return reservation_id
    return None


def blocks(c: Reservable, id_tag: str | None, now: float) -> bool:
    """Whether a live reservation keeps `id_tag` from starting on `c`."""
    r = c.reservation
    return r is not None and r.expiry > now and not r.admits(id_tag)
