"""Reconnect delays: exponential backoff with jitter (pure; the random source is injected).

Jitter keeps many pollers that lost the same meter or network from reconnecting in lockstep.
"""

from __future__ import annotations

import random


class Backoff:
    """Delays `min_s, 2·min_s, 4·min_s, …` capped at `max_s`, each drawn from [d/2, d]."""

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        if not 0 < min_s <= max_s:
            raise ValueError("need 0 < min_s <= max_s")
        self.min_s = min_s
        self.max_s = max_s
        self.rng = rng or random.Random()
        self.attempts = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        ceiling = min(self.max_s, self.min_s * 2.0 ** min(self.attempts, 60))
        self.attempts += 1
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        """Back to the shortest delay (after a success)."""
        self.attempts = 0
