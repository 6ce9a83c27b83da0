"""A station's fair share of the server: a token bucket for its frames, and a filter that collapses
repeated log lines. Pure: the caller passes the time (monotonic seconds) in.
"""

from __future__ import annotations


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; every frame takes one.

    `take(now)` never refuses: it answers how long the caller must wait before the frame is due
    (0 while tokens are left). The session sleeps that long before it reads on, so a station that
    sends faster than the rate is paced and its further frames wait in TCP, costing nothing.
    """

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at = now

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
            self._at = now

    def take(self, now: float) -> float:
        """Take a token; the seconds to wait until it is due (0: at once)."""
        self._refill(now)
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.rate

    def available(self, now: float) -> float:
        """Tokens left now (negative while a taken token is not yet due)."""
        self._refill(now)
        return self._tokens


class RepeatFilter:
    """Let one log line through per `interval_s`; count the rest.

    `admit(now)` returns None for a line to suppress, else how many were suppressed since the
    last admitted one (to say "N more suppressed"). `pending()` is that count at the end.
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._next_at: float | None = None
        self._suppressed = 0

    def admit(self, now: float) -> int | None:
        if self._next_at is not None and now < self._next_at:
            self._suppressed += 1
            return None
        self._next_at = now + self.interval_s
        suppressed, self._suppressed = self._suppressed, 0
        return suppressed

    def pending(self) -> int:
        return self._suppressed
