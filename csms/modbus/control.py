"""What to write to a station's Modbus slave, and when (pure: time is passed in, no I/O).

The same delivery rules as for OCPP profiles, in Modbus terms:
- a change smaller than the deadband is not written — unless it is a decrease needed for safety
  (`urgent`);
- 1210 is re-written before `MbsSlaveTCPIPValidityTime` runs out (at `rewrite_after_s`), which is
  the dead-man: when the central system stops writing, the station falls back to its safe current
  on its own;
- decreases go before increases (a station's sockets, and the phase switch, in that order);
- a 1 ↔ 3 phase switch (1215) waits `phase_dwell_s` after the previous one, and is only asked for
  where the surplus crosses the 3-phase minimum (3 × the minimum current, 18 A at 6 A);
- a switch is in force once a reading shows it (`phases_in_force`): 1215 reads back what we
  wrote and no more phases than that carry current. Only then is the balancer told (an EV counted
  on fewer phases than it draws on would be the unsafe side).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

PHASE_ON_A = 1.0
"""A phase carrying at least this much current is in use (as the balancer counts it)."""


@dataclass(frozen=True, slots=True)
class ControlSettings:
    deadband_a: float = 1.0
    validity_s: float = 60.0
    """The station's `MbsSlaveTCPIPValidityTime`."""
    rewrite_fraction: float = 0.5
    """Re-write when this fraction of the validity has passed (twice per validity by default)."""
    phase_dwell_s: float = 300.0
    min_current_a: float = 6.0
    phase_hysteresis_a: float = 1.0
    """Summed amps above 3 × minimum before switching up to 3 phases."""

    @property
    def rewrite_after_s(self) -> float:
        return self.validity_s * self.rewrite_fraction


@dataclass(frozen=True, slots=True)
class Setpoint:
    """What one socket should get: amps per phase, whether a decrease is urgent, who bound it."""

    socket: int
    limit_a: float
    source: str = ""
    urgent: bool = False


@dataclass(slots=True)
class SocketState:
    """What we wrote to one socket and when (updated by the shell on success only)."""

    written_a: float | None = None
    written_at: float = 0.0
    phases: int = 3
    phases_at: float | None = None
    proven: bool = False
    """1206/1214 read back after the last write agreed with it."""
    phases_proven: bool = True
    """A reading after the last phase switch showed it in force (`phases_in_force`)."""


@dataclass(frozen=True, slots=True)
class Write:
    socket: int
    kind: Literal["current", "phases"]
    value: float
    reason: str


def _current_write(
    sp: Setpoint, state: SocketState, now: float, s: ControlSettings
) -> Write | None:
    written = state.written_a
    if written is None:
        return Write(sp.socket, "current", sp.limit_a, "first")
    delta = sp.limit_a - written
    if delta < 0 and (sp.urgent or -delta >= s.deadband_a):
        return Write(sp.socket, "current", sp.limit_a, "decrease")
    if delta > 0 and delta >= s.deadband_a:
        return Write(sp.socket, "current", sp.limit_a, "increase")
    if now - state.written_at >= s.rewrite_after_s:
        # Within the deadband the value we hold stays: re-writing it keeps the station counting.
        value = sp.limit_a if delta < 0 else written
        return Write(sp.socket, "current", value, "validity")
    return None


def phase_choice(
    surplus_a: float | None, state: SocketState, now: float, s: ControlSettings
) -> int | None:
    """1 or 3 when a phase switch is due (PV surplus summed over phases), else None."""
    if surplus_a is None:
        return None
    if state.phases_at is not None and now - state.phases_at < s.phase_dwell_s:
        return None
    three_phase_min = 3 * s.min_current_a
    if state.phases == 3 and surplus_a < three_phase_min:
        return 1
    if state.phases == 1 and surplus_a >= three_phase_min + s.phase_hysteresis_a:
        return 3
    return None


def decide(
    setpoints: Mapping[int, Setpoint],
    states: Mapping[int, SocketState],
    now: float,
    settings: ControlSettings,
    surplus_a: float | None = None,
) -> list[Write]:
    """The writes due now for one station, decreases first, then phase switches, then the rest.

    `surplus_a` (PV-surplus mode with a station that switches phases): the summed surplus the
    sockets may use; None means no phase switching.
    """
    decreases: list[Write] = []
    others: list[Write] = []
    phases: list[Write] = []
    for socket, sp in sorted(setpoints.items()):
        state = states.get(socket) or SocketState()
        write = _current_write(sp, state, now, settings)
        if write is not None:
            lower = state.written_a is not None and write.value < state.written_a
            (decreases if lower else others).append(write)
        wanted = phase_choice(surplus_a, state, now, settings)
        if wanted is not None:
            phases.append(Write(socket, "phases", float(wanted), f"surplus {surplus_a:g} A"))
    return decreases + phases + others


def proven(applied_a: float | None, accounted: bool | None, written_a: float) -> bool:
    """Whether the read-back shows our setpoint in force: 1214 says it is accounted for and 1206
    is not above it (other limits may hold it lower)."""
    return bool(accounted) and applied_a is not None and applied_a <= written_a + 0.05


def phases_in_force(
    wanted: int, register: float | None, currents_a: Sequence[float | None]
) -> bool:
    """Whether a reading shows a phase switch in force: 1215 reads back `wanted` and at most
    `wanted` phases carry current (an EV still drawing on three phases after a switch to one has
    not switched yet; one drawing nothing will draw on `wanted` when it resumes)."""
    if register is None or round(register) != wanted or any(c is None for c in currents_a):
        return False
    return sum(1 for c in currents_a if c is not None and c >= PHASE_ON_A) <= wanted
