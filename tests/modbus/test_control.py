"""The pure Modbus control core: what to write and when, table-tested."""

from __future__ import annotations

import pytest

from csms.modbus.control import (
    ControlSettings,
    Setpoint,
    SocketState,
    Write,
    decide,
    phase_choice,
    phases_in_force,
    proven,
)

S = ControlSettings(deadband_a=1.0, validity_s=60.0, phase_dwell_s=300.0, min_current_a=6.0)


@pytest.mark.parametrize(
    ("case", "limit", "urgent", "state", "now", "expected"),
    [
        ("first write", 10.0, False, SocketState(), 0.0, Write(1, "current", 10.0, "first")),
        ("inside the deadband", 10.5, False, SocketState(10.0, 0.0), 5.0, None),
        ("small decrease waits", 9.5, False, SocketState(10.0, 0.0), 5.0, None),
        ("urgent small decrease", 9.5, True, SocketState(10.0, 0.0), 5.0,
         Write(1, "current", 9.5, "decrease")),
        ("decrease", 7.0, False, SocketState(10.0, 0.0), 5.0,
         Write(1, "current", 7.0, "decrease")),
        ("increase", 12.0, False, SocketState(10.0, 0.0), 5.0,
         Write(1, "current", 12.0, "increase")),
        ("validity half gone: rewrite the held value", 10.5, False, SocketState(10.0, 0.0), 30.0,
         Write(1, "current", 10.0, "validity")),
        ("rewrite takes a small decrease along", 9.5, False, SocketState(10.0, 0.0), 30.0,
         Write(1, "current", 9.5, "validity")),
        ("pause (0 A) is a decrease", 0.0, False, SocketState(6.0, 0.0), 1.0,
         Write(1, "current", 0.0, "decrease")),
    ],
)  # fmt: skip
def test_current_writes(
    case: str,
    limit: float,
    urgent: bool,
    state: SocketState,
    now: float,
    expected: Write | None,
) -> None:
    writes = decide({1: Setpoint(1, limit, "grid", urgent)}, {1: state}, now, S)
    assert writes == ([] if expected is None else [expected]), case


def test_decreases_go_before_increases_and_phase_switches_between() -> None:
    states = {1: SocketState(10.0, 0.0), 2: SocketState(6.0, 0.0, phases=3)}
    setpoints = {1: Setpoint(1, 16.0), 2: Setpoint(2, 0.0)}
    writes = decide(setpoints, states, 1.0, S, surplus_a=12.0)
    assert [(w.socket, w.kind) for w in writes] == [
        (2, "current"),  # the decrease
        (1, "phases"),
        (2, "phases"),
        (1, "current"),  # the increase, last
    ]


@pytest.mark.parametrize(
    ("case", "surplus", "state", "now", "expected"),
    [
        ("no pv-surplus mode", None, SocketState(phases=3), 0.0, None),
        ("3 phases below 18 A summed", 17.0, SocketState(phases=3), 0.0, 1),
        ("3 phases at 18 A stay", 18.0, SocketState(phases=3), 0.0, None),
        ("1 phase below 18 A + hysteresis stays", 18.5, SocketState(phases=1, phases_at=0.0),
         400.0, None),
        ("1 phase above 19 A switches up", 19.0, SocketState(phases=1, phases_at=0.0), 400.0, 3),
        ("dwell not over", 25.0, SocketState(phases=1, phases_at=0.0), 299.0, None),
        ("dwell over", 25.0, SocketState(phases=1, phases_at=0.0), 300.0, 3),
    ],
)  # fmt: skip
def test_phase_switching(
    case: str, surplus: float | None, state: SocketState, now: float, expected: int | None
) -> None:
    assert phase_choice(surplus, state, now, S) == expected, case


@pytest.mark.parametrize(
    ("applied", "accounted", "written", "expected"),
    [
        (10.0, True, 10.0, True),
        (8.0, True, 10.0, True),  # another limit holds it lower: still in force
        (16.0, True, 10.0, False),  # the station applies more than we wrote
        (10.0, False, 10.0, False),  # not accounted for (writing not allowed, or expired)
        (None, True, 10.0, False),
    ],
)
def test_proof_from_the_read_back(
    applied: float | None, accounted: bool, written: float, expected: bool
) -> None:
    assert proven(applied, accounted, written) is expected


@pytest.mark.parametrize(
    ("case", "wanted", "register", "currents", "expected"),
    [
        ("1 phase read back, EV on L1", 1, 1.0, (10.0, 0.0, 0.0), True),
        ("1 phase, EV on the socket's rotated phase", 1, 1.0, (0.0, 10.0, 0.2), True),
        ("1 phase, EV not drawing (resumes on one)", 1, 1.0, (0.0, 0.0, 0.0), True),
        ("1 phase read back, EV still on three", 1, 1.0, (10.0, 10.0, 10.0), False),
        ("1215 still reads 3", 1, 3.0, (10.0, 0.0, 0.0), False),
        ("1215 reserved", 1, None, (10.0, 0.0, 0.0), False),
        ("a current not readable", 1, 1.0, (10.0, None, 0.0), False),
        ("3 phases read back", 3, 3.0, (10.0, 0.0, 0.0), True),
        ("3 phases, EV on three", 3, 3.0, (10.0, 10.0, 10.0), True),
    ],
)  # fmt: skip
def test_a_phase_switch_is_in_force_when_read_back_and_drawn(
    case: str,
    wanted: int,
    register: float | None,
    currents: tuple[float | None, float | None, float | None],
    expected: bool,
) -> None:
    assert phases_in_force(wanted, register, currents) is expected, case
