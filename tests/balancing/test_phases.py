"""Phase rotation: the nine sequences, SCN-PhaseMapping codes, Alfen's internal rotation."""

from __future__ import annotations

import pytest

from balancing import (
    ROTATION_CODES,
    ROTATIONS,
    BalancerState,
    GridReading,
    Phase,
    Session,
    Site,
    Socket,
    Station,
    allocate,
    compose,
    phase_rotation,
)

L1, L2, L3 = Phase.L1, Phase.L2, Phase.L3


def test_codes_match_scn_phase_mapping() -> None:
    # alfen-ocpp-keys.md: 1=L1 2=L2 3=L3 4=L1L2L3 5=L1L3L2 6=L2L1L3 7=L2L3L1 8=L3L1L2 9=L3L2L1
    expected = ["L1", "L2", "L3", "L1L2L3", "L1L3L2", "L2L1L3", "L2L3L1", "L3L1L2", "L3L2L1"]
    assert [ROTATION_CODES[c].name for c in range(1, 10)] == expected
    assert all(ROTATIONS[name].code == i + 1 for i, name in enumerate(expected))


def test_parsing_accepts_names_codes_and_rotations() -> None:
    assert phase_rotation("l3l1l2") is ROTATIONS["L3L1L2"]
    assert phase_rotation(7) is ROTATIONS["L2L3L1"]
    assert phase_rotation(ROTATIONS["L1"]) is ROTATIONS["L1"]


@pytest.mark.parametrize("bad", ["L1L1L2", "L4", "", 0, 10, True])
def test_parsing_rejects_anything_else(bad: object) -> None:
    with pytest.raises(ValueError, match=r"rotation|code"):
        phase_rotation(bad)  # type: ignore[arg-type]


def test_ev_phases_land_on_grid_phases() -> None:
    r = ROTATIONS["L3L1L2"]
    assert [r.grid_phase(k) for k in (1, 2, 3)] == [L3, L1, L2]
    assert r.grid_phases([1]) == (L3,)
    assert r.grid_phases([1, 2]) == (L1, L3)
    single = ROTATIONS["L2"]
    assert single.single_phase and single.grid_phases([1, 2, 3]) == (L2,)
    with pytest.raises(ValueError):
        r.grid_phase(4)


def test_internal_rotation_composes_with_the_feeder() -> None:
    internal = ROTATIONS["L3L2L1"]
    assert compose(ROTATIONS["L1L2L3"], internal).name == "L3L2L1"
    assert compose(ROTATIONS["L2L3L1"], internal).name == "L1L3L2"
    assert compose(ROTATIONS["L2"], internal).name == "L2"
    assert compose(ROTATIONS["L3L1L2"], ROTATIONS["L1L2L3"]).name == "L3L1L2"


def _double_station_run(ev1: tuple[float, ...], ev2: tuple[float, ...]) -> tuple[float, float]:
    """Guide 3.1.1.1: a 3-phase double station on one feeder, 25 A per phase available."""
    site = Site(
        grid_limit_a=25,
        stations=(Station("EVE", 25, (Socket(1, 32), Socket(2, 32))),),
        ramp_a_per_s=None,
        phase_detect_s=0,
    )
    sessions = [
        Session(("EVE", 1), 0.0, measured_a=ev1),  # type: ignore[arg-type]
        Session(("EVE", 2), 0.0, measured_a=ev2),  # type: ignore[arg-type]
    ]
    # Meter sees exactly our EVs: other load 0.
    ev_load = [0.0, 0.0, 0.0]
    for phase, current in zip((2, 1, 0), ev1, strict=True):  # socket 1 is wired L3L2L1
        ev_load[phase] += current
    for phase, current in enumerate(ev2):
        ev_load[phase] += current
    reading = GridReading(0.0, tuple(ev_load))  # type: ignore[arg-type]
    a = allocate(site, reading, sessions, BalancerState(), 0.0)
    return a.get(("EVE", 1)).limit_a, a.get(("EVE", 2)).limit_a


@pytest.mark.parametrize(
    ("case", "ev1", "ev2", "expected"),
    [
        ("E: two 1-phase EVs", (10, 0, 0), (10, 0, 0), (25, 25)),
        ("F: 2-phase and 1-phase", (10, 10, 0), (10, 0, 0), (25, 25)),
        ("G: two 2-phase EVs", (10, 10, 0), (10, 10, 0), (12.5, 12.5)),
        ("H: 3-phase and 1-phase", (10, 10, 10), (10, 0, 0), (12.5, 12.5)),
    ],
)
def test_guide_3_1_1_1_double_station_examples(
    case: str, ev1: tuple[float, ...], ev2: tuple[float, ...], expected: tuple[float, float]
) -> None:
    assert _double_station_run(ev1, ev2) == expected, case


def test_internal_rotation_is_on_for_3_phase_double_stations_only() -> None:
    site = Site(
        grid_limit_a=25,
        stations=(
            Station("DUO", 32, (Socket(1, 32), Socket(2, 32))),
            Station("OFF", 32, (Socket(1, 32), Socket(2, 32)), internal_rotation=False),
            Station("ONE", 32, (Socket(1, 32),)),
        ),
        phase_detect_s=0,
    )
    keys = [("DUO", 1), ("DUO", 2), ("OFF", 1), ("OFF", 2), ("ONE", 1)]
    sessions = [Session(k, 0.0, measured_a=(8.0, 0.0, 0.0)) for k in keys]
    a = allocate(site, GridReading(0.0, (40.0, 0.0, 0.0)), sessions, BalancerState(), 0.0)
    assert [a.get(k).phases for k in keys] == [(L3,), (L1,), (L1,), (L1,), (L1,)]
