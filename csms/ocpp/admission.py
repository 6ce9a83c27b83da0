"""Who may connect, and under which name: pure rules for station ids and new registrations.

No I/O here: the handshake (`csms.ocpp.server`) asks these functions and answers with the HTTP
status they name. Time is passed in (the event loop's monotonic clock).

Station ids follow OCPP's CiString rules with the length of the OCPP 2.0.1 / security-whitepaper
identity (48): printable ASCII only, no control characters, no leading or trailing whitespace, no
path separators. Alfen charge box ids (≤ 20 characters) fit with room to spare.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# Characters people and OCR confuse in ids printed on labels: each maps to one representative.
_CONFUSABLE = str.maketrans({"o": "0", "i": "1", "l": "1", "|": "1", "s": "5", "z": "2", "_": "-"})


def look_alike_key(station_id: str) -> str:
    """A key that is equal for ids differing only by case, whitespace or confusable characters.

    `ALF-0001`, `alf-OOO1`, ` ALF-0001` and `ALF_0001` share a key; `ALF-0002` does not.
    """
    folded = "".join(station_id.split()).casefold()
    return folded.translate(_CONFUSABLE)


def look_alikes(station_id: str, known: Iterable[str]) -> list[str]:
    """The known ids (other than `station_id` itself) that look like `station_id`, sorted."""
    key = look_alike_key(station_id)
    return sorted(k for k in set(known) if k != station_id and look_alike_key(k) == key)


def look_alike_groups(ids: Iterable[str]) -> dict[str, list[str]]:
    """For each id that has look-alikes among `ids`: those look-alikes, sorted."""
    by_key: dict[str, list[str]] = {}
    for station_id in sorted(set(ids)):
        by_key.setdefault(look_alike_key(station_id), []).append(station_id)
    return {
        station_id: [other for other in group if other != station_id]
        for group in by_key.values()
        if len(group) > 1
        for station_id in group
    }


@dataclass
class TokenBucket:
    """At most `burst` events at once, refilled at `rate_per_s`; `now` is a monotonic time."""

    rate_per_s: float
    burst: int
    tokens: float = field(init=False)
    updated: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def _refill(self, now: float) -> None:
        if self.updated is not None:
            elapsed = max(0.0, now - self.updated)
            self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate_per_s)
        self.updated = now

    def take(self, now: float) -> bool:
        """Use one token if there is one."""
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def retry_after(self, now: float) -> float:
        """Seconds until the next token (0 when one is available)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate_per_s


@dataclass(frozen=True, slots=True)
class Refusal:
    """A handshake refused before the station was registered: HTTP status, body, log reason."""

    status: int
    reason: str
    retry_after_s: float | None = None


def registration_refusal(
    policy: str,
    bucket: TokenBucket,
    now: float,
    pending_count: int,
    max_pending: int,
) -> Refusal | None:
    """Whether an unknown id may be registered now (None) or why not.

    Under `reject` every unknown id is refused (403). Under `pending`, registrations are limited
    by the token bucket (429 with Retry-After) and by the number of never-approved stations (503
    until the operator approves or rejects some). `accept` is for trusted networks and tests: it
    registers every id.
    """
    if policy == "reject":
        return Refusal(403, "unknown station (policy reject)")
    if policy != "pending":
        return None
    if pending_count >= max_pending:
        return Refusal(
            503, f"{pending_count} stations already wait for approval (max_pending_stations)"
        )
    if not bucket.take(now):
        wait = bucket.retry_after(now)
        return Refusal(429, "too many new stations (pending_registrations_per_minute)", wait)
    return None
