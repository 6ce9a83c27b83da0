"""Inputs are checked on construction; plain-data forms load scenario and settings files."""

from __future__ import annotations

import dataclasses
import math

import pytest

from balancing import (
    Binding,
    Circuit,
    GridReading,
    LimitSource,
    Mode,
    Phase,
    Session,
    Site,
    Socket,
    SocketAllocation,
    Station,
    phase_rotation,
)
from balancing.result import new_socket_allocation
from balancing.serde import reading_from_dict, session_from_dict, site_from_dict

FUSE = {"id": "C", "limit_a": 10, "source": "fuse"}  # not a LimitSource


def one_station(**kw: object) -> Station:
    values: dict[str, object] = {"id": "S", "max_current_a": 16, "sockets": (Socket(1, 16),)}
    values.update(kw)
    return Station(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Socket(0, 16), "connector id"),
        (lambda: Socket(1, -1), "max current"),
        (lambda: Socket(1, math.nan), "max current"),
        (lambda: one_station(sockets=()), "at least one socket"),
        (lambda: one_station(sockets=(Socket(1, 16), Socket(1, 16))), "connector twice"),
        (lambda: Site(25, (one_station(),), phases=2), "phases must be 1 or 3"),
        (lambda: Site(25, (one_station(),), mode="eco"), "mode must be"),  # type: ignore[arg-type]
        (lambda: Site(-1, (one_station(),)), "grid_limit_a"),
        (lambda: Site(25, (one_station(),), ramp_a_per_s=0), "ramp_a_per_s"),
        (lambda: Site(25, (one_station(),), cap_a=-1), "cap_a must be"),
        (lambda: Site(25, (one_station(),), cap_a=math.inf), "cap_a must be"),
        (lambda: site_from_dict({"grid_limit_a": 25, "circuits": [FUSE]}), "circuit C: source"),
        (lambda: Site(25, (one_station(), one_station())), "station is listed twice"),
        (lambda: Site(25, (one_station(circuit_id="X"),)), "unknown circuit 'X'"),
        (lambda: Site(25, (), circuits=(Circuit("A", 10, "B"),)), "unknown parent"),
        (
            lambda: Site(25, (), circuits=(Circuit("A", 10, "B"), Circuit("B", 10, "A"))),
            "loop",
        ),
        (
            lambda: Site(25, (one_station(phase_rotation=phase_rotation("L2")),), phases=1),
            "1-phase site",
        ),
        (lambda: Session(("S", 1), 0.0, phases_hint=4), "phases_hint"),
        (lambda: Session(("S", "1"), 0.0), "session key"),  # type: ignore[arg-type]
        (lambda: GridReading(0.0, (1.0, 2.0)), "three phase currents"),  # type: ignore[arg-type]
    ],
)
def test_bad_values_are_rejected_with_a_message(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_mode_accepts_its_string_form() -> None:
    assert Site(25, (one_station(),), mode="pv-surplus").mode is Mode.PV_SURPLUS  # type: ignore[arg-type]


def test_site_from_dict_builds_the_whole_tree() -> None:
    site = site_from_dict(
        {
            "id": "home",
            "grid_limit_a": 25,
            "margin_a": 1,
            "mode": "pv-surplus",
            "pv": {"start_hold_s": 30, "boost_windows": ["07:00-08:00"]},
            "circuits": [{"id": "garage", "limit_a": 20}],
            "stations": [
                {
                    "id": "ALF-1",
                    "max_current_a": 32,
                    "phase_rotation": 8,
                    "circuit_id": "garage",
                    "sockets": [
                        {"connector_id": 1, "max_current_a": 16, "socket_id": 3},
                        {"connector_id": 2, "max_current_a": 16, "phase_rotation": "L2L3L1"},
                    ],
                }
            ],
        }
    )
    station = site.station("ALF-1")
    assert site.mode is Mode.PV_SURPLUS and site.pv.start_hold_s == 30
    assert station.phase_rotation is not None and station.phase_rotation.name == "L3L1L2"
    assert station.sockets[1].phase_rotation is not None
    assert station.sockets[0].socket_id == 3 and site.circuits[0].id == "garage"
    with pytest.raises(KeyError):
        site.station("nope")


def test_unknown_fields_are_named() -> None:
    with pytest.raises(ValueError, match=r"unknown field.*grid_limit"):
        site_from_dict({"grid_limit": 25, "stations": []})


def test_sessions_and_readings_from_dicts() -> None:
    s = session_from_dict({"key": "ALF-1/2", "started_at": 5, "measured_a": [1, 2, 3]})
    assert s.key == ("ALF-1", 2) and s.measured_a == (1.0, 2.0, 3.0)
    assert session_from_dict({"key": ["A", 1]}).key == ("A", 1)
    r = reading_from_dict({"at": 1, "current_a": [1, -2, 3], "power_w": [230, -460, 690]})
    assert r.current_a == (1.0, -2.0, 3.0) and r.power_w == (230.0, -460.0, 690.0)
    with pytest.raises(ValueError, match="three values"):
        reading_from_dict({"at": 1, "current_a": [1, 2]})


def test_the_fast_socket_allocation_constructor_builds_the_same_frozen_value() -> None:
    args = (("ALF-1", 2), 16.0, (Phase.L2,), Binding(LimitSource.CIRCUIT, "garage"), 20.0, 6.0)
    fast, slow = new_socket_allocation(*args), SocketAllocation(*args)
    assert type(fast) is SocketAllocation
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.limit_a = 32.0  # type: ignore[misc]


def test_the_tree_carries_the_source_of_each_node() -> None:
    site = site_from_dict({
        "grid_limit_a": 63, "cap_a": 20,
        "circuits": [{"id": "SCN N", "limit_a": 24, "source": "scn share"}],
        "stations": [{
            "id": "S", "max_current_a": 16, "max_source": "operator cap (station)",
            "circuit_id": "SCN N",
            "sockets": [{"connector_id": 1, "max_current_a": 8,
                         "max_source": "operator cap (connector)"}],
        }],
    })  # fmt: skip
    station = site.station("S")
    assert site.cap_a == 20 and site.circuits[0].source is LimitSource.SCN_SHARE
    assert station.max_source is LimitSource.CAP_STATION
    assert station.sockets[0].max_source is LimitSource.CAP_CONNECTOR
    assert Socket(1, 16).max_source is LimitSource.CONNECTOR_MAX  # the defaults
    assert one_station().max_source is LimitSource.STATION_MAX
    assert Circuit("C", 10).source is LimitSource.CIRCUIT
