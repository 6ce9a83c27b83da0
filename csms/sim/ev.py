"""A simulated electric vehicle: how much current it takes, on how many phases, until it is full."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SimEv:
    """An EV plugged into a simulated station.

    `max_current_a` per phase on `phases` phases (1, 2 or 3); `needs_14a`: the EV does not charge
    below 14 A (the probing minute detects it); `battery_wh`: energy until full (None: never full);
    `id_tag`: the card the driver presents on plug-in (None: wait for RemoteStartTransaction).
    `charged_wh` grows while it charges.
    """

    max_current_a: float = 16.0
    phases: int = 3
    needs_14a: bool = False
    battery_wh: float | None = None
    id_tag: str | None = "SIMEV0001"
    charged_wh: float = field(default=0.0)

    def __post_init__(self) -> None:
        if self.phases not in (1, 2, 3):
            raise ValueError("an EV charges on 1, 2 or 3 phases")
        if self.max_current_a <= 0:
            raise ValueError("max_current_a must be positive")

    @property
    def full(self) -> bool:
        return self.battery_wh is not None and self.charged_wh >= self.battery_wh

    def takes(self, offered_a: float) -> float:
        """Current per phase the EV draws when `offered_a` is offered (0 below its minimum)."""
        if self.full:
            return 0.0
        if offered_a < (14.0 if self.needs_14a else 6.0):
            return 0.0
        return min(offered_a, self.max_current_a)
