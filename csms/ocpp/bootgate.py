"""When the central system may send a station its first CALL (pure; time is passed in).

A station that boots sends BootNotification first and is not ready for CALLs before it has the
answer: a profile sent earlier was Rejected by a real station. A station that only re-opened its
websocket (no reboot) may never send BootNotification; its first message is e.g. a
StatusNotification or Heartbeat. So the gate opens when

- our answer to a BootNotification with status Accepted or Pending has been sent (Pending: the
  OCPP 1.6 central system may read and change configuration before accepting), or
- our answer to a CALL with another action has been sent (the station is past its boot), or
- `grace_s` passed since the connection opened and no BootNotification is being handled.

A BootNotification answered Rejected closes it for good in this session ("refused": CALLs fail at
once) until a later BootNotification is answered Accepted or Pending. A BootNotification received
while open closes it again until it is answered: the station rebooted.
"""

from __future__ import annotations

import enum
from typing import Any

BOOT = "BootNotification"


class GateState(enum.Enum):
    WAITING = "waiting"  # nothing proves the station ready yet
    BOOTING = "booting"  # a BootNotification is being answered
    READY = "ready"
    REFUSED = "refused"  # BootNotification answered Rejected


class BootGate:
    """The state of one session's gate; the session calls the three `on_…`/`state_at` methods."""

    def __init__(self, grace_s: float, opened_at: float) -> None:
        self.grace_s = grace_s
        self.deadline = opened_at + grace_s
        self.state = GateState.WAITING

    def on_call_received(self, action: str) -> None:
        """A well-formed CALL from the station arrived (before it is handled)."""
        if action == BOOT:
            self.state = GateState.BOOTING

    def on_answer_sent(self, action: str, result: dict[str, Any] | None) -> None:
        """Our answer to the station's CALL was written; `result` is None for a CALLERROR."""
        if action == BOOT:
            status = result.get("status") if result is not None else None
            if status in ("Accepted", "Pending"):
                self.state = GateState.READY
            elif status == "Rejected":
                self.state = GateState.REFUSED
            else:  # we could not answer it: the station will boot again; the grace rule applies
                self.state = GateState.WAITING
        elif self.state is GateState.WAITING:
            self.state = GateState.READY

    def state_at(self, now: float) -> GateState:
        """The state at `now`, the grace rule applied."""
        if self.state is GateState.WAITING and now >= self.deadline:
            self.state = GateState.READY
        return self.state

    def wait_s(self, now: float) -> float | None:
        """How long a CALL may have to wait before the state can change by time alone."""
        if self.state_at(now) is GateState.WAITING:
            return self.deadline - now
        return None
