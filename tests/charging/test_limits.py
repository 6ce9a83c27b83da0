"""Table tests of local-limit parsing and limit composition (csms.charging.limits)."""

from __future__ import annotations

import pytest

from csms.charging import limits as L
from csms.charging.limits import Limit, LocalLimits, OperatorCaps

GRID = "grid L1"


def alloc(amps, *keys):
    return {key: Limit(amps, GRID) for key in keys}


def test_local_limits_from_an_alfen_snapshot():
    config = {
        "Station-MaxCurrent": "20.0",
        "Connector1-MaxCurrent": "16.0",
        "Connector2-MaxCurrent": "32",
        "Connector1.2-MaxCurrent": "10",
        "SCN-IsEnabled": "True",
        "SCN-NetworkName": "HOME1",
        "SCN-TotalStaticCurrent": "40",
        "SCN-TotalSafeCurrent": "12",
        "Safe-MaxCurrent": "6.0",
        "HeartbeatInterval": "900",
    }
    assert L.local_limits_from_config(config) == LocalLimits(
        station_max_a=20.0,
        connector_max_a={1: 16.0, 2: 32.0},
        scn_enabled=True,
        scn_network="HOME1",
        scn_total_static_a=40.0,
        scn_total_safe_a=12.0,
        safe_max_a=6.0,
    )


@pytest.mark.parametrize(
    ("name", "config", "expected"),
    [
        ("empty snapshot", {}, LocalLimits()),
        ("malformed numbers ignored", {"Station-MaxCurrent": "abc", "Connector1-MaxCurrent": ""},
         LocalLimits()),
        ("negative ignored", {"Safe-MaxCurrent": "-1"}, LocalLimits()),
        ("scn off", {"SCN-IsEnabled": "False", "SCN-TotalStaticCurrent": "30"},
         LocalLimits(scn_total_static_a=30.0)),
        ("value None", {"Station-MaxCurrent": None}, LocalLimits()),
    ],
)  # fmt: skip
def test_local_limits_tolerate_bad_values(name, config, expected):
    assert L.local_limits_from_config(config) == expected, name


@pytest.mark.parametrize(
    ("name", "connector", "status", "code", "info", "expected"),
    [
        ("alfen safe mode", 0, "Faulted", "210", "Modbus TCP/IP lost, in safe mode max 22.0A",
         True),
        ("info only", 0, "Faulted", None, "in Safe Mode", True),
        ("other fault", 0, "Faulted", "42", "ground failure", None),
        ("recovered", 0, "Available", None, None, False),
        ("socket fault says nothing about the station", 1, "Faulted", "210", None, None),
    ],
)  # fmt: skip
def test_reports_meter_lost(name, connector, status, code, info, expected):
    assert L.reports_meter_lost(connector, status, code, info) is expected, name


A1, A2, B1, B2, C1 = ("A", 1), ("A", 2), ("B", 1), ("B", 2), ("C", 1)

CASES = [
    # name, allocations, stations, kwargs, expected {key: (value, source)}
    ("allocation binds when nothing local", alloc(12, A1), {}, {}, {A1: (12, GRID)}),
    ("station max 10 single socket", alloc(16, A1),
     {"A": LocalLimits(station_max_a=10)}, {}, {A1: (10, L.STATION_MAX)}),
    ("station max tie names station max", alloc(10, A1),
     {"A": LocalLimits(station_max_a=10)}, {}, {A1: (10, L.STATION_MAX)}),
    ("station max shared over two sockets", alloc(16, A1, A2),
     {"A": LocalLimits(station_max_a=20)}, {}, {A1: (10, L.STATION_MAX), A2: (10, L.STATION_MAX)}),
    ("station max counts idle socket in use", alloc(16, A1),
     {"A": LocalLimits(station_max_a=20)}, {"in_use": [A1, A2]}, {A1: (10, L.STATION_MAX)}),
    ("connector max", alloc(16, A1, A2),
     {"A": LocalLimits(connector_max_a={1: 13}, station_max_a=40)}, {},
     {A1: (13, L.CONNECTOR_MAX), A2: (16, GRID)}),
    ("scn share over sockets in use across stations", alloc(20, A1, A2, B1),
     {"A": LocalLimits(scn_enabled=True, scn_network="N", scn_total_static_a=24),
      "B": LocalLimits(scn_enabled=True, scn_network="N", scn_total_static_a=24)}, {},
     {A1: (8, L.SCN_SHARE), A2: (8, L.SCN_SHARE), B1: (8, L.SCN_SHARE)}),
    ("double with two sockets gets twice the socket share", alloc(20, A1, A2, B1, B2),
     {"A": LocalLimits(scn_enabled=True, scn_network="N", scn_total_static_a=32),
      "B": LocalLimits(scn_enabled=True, scn_network="N", scn_total_static_a=32)},
     {"in_use": [A1, A2, B1]}, {A1: (8, L.SCN_SHARE), A2: (8, L.SCN_SHARE), B1: (8, L.SCN_SHARE),
                                B2: (8, L.SCN_SHARE)}),
    ("scn disabled ignores total", alloc(20, A1),
     {"A": LocalLimits(scn_enabled=False, scn_total_static_a=6)}, {}, {A1: (20, GRID)}),
    ("separate scn networks", alloc(20, A1, B1),
     {"A": LocalLimits(scn_enabled=True, scn_network="N1", scn_total_static_a=16),
      "B": LocalLimits(scn_enabled=True, scn_network="N2", scn_total_static_a=10)}, {},
     {A1: (16, L.SCN_SHARE), B1: (10, L.SCN_SHARE)}),
    ("station meter lost uses safe max", alloc(16, A1, A2),
     {"A": LocalLimits(safe_max_a=12)}, {"meter_lost": ["A"]},
     {A1: (6, L.STATION_SAFE), A2: (6, L.STATION_SAFE)}),
    ("meter ok ignores safe max", alloc(16, A1), {"A": LocalLimits(safe_max_a=6)}, {},
     {A1: (16, GRID)}),
    ("scn meter lost uses scn total safe", alloc(16, A1, B1),
     {"A": LocalLimits(scn_enabled=True, scn_total_static_a=40, scn_total_safe_a=14, safe_max_a=6),
      "B": LocalLimits(scn_enabled=True, scn_total_static_a=40, scn_total_safe_a=14)},
     {"meter_lost": ["A"]}, {A1: (7, L.SCN_SAFE), B1: (16, GRID)}),
    ("connector cap", alloc(16, A1), {}, {"caps": OperatorCaps(connector_a={A1: 8})},
     {A1: (8, L.CAP_CONNECTOR)}),
    ("station cap shared evenly", alloc(16, A1, A2), {},
     {"caps": OperatorCaps(station_a={"A": 20})},
     {A1: (10, L.CAP_STATION), A2: (10, L.CAP_STATION)}),
    ("station cap gives unused share to neighbour", {A1: Limit(4, GRID), A2: Limit(16, GRID)}, {},
     {"caps": OperatorCaps(station_a={"A": 18})}, {A1: (4, GRID), A2: (14, L.CAP_STATION)}),
    ("site cap over all stations", alloc(16, A1, B1, C1), {},
     {"caps": OperatorCaps(site_a=24)}, {A1: (8, L.CAP_SITE), B1: (8, L.CAP_SITE),
                                         C1: (8, L.CAP_SITE)}),
    ("site cap after station max", alloc(16, A1, B1),
     {"A": LocalLimits(station_max_a=6)}, {"caps": OperatorCaps(site_a=20)},
     {A1: (6, L.STATION_MAX), B1: (14, L.CAP_SITE)}),
    ("zero allocation stays zero", alloc(0, A1), {"A": LocalLimits(station_max_a=10)}, {},
     {A1: (0, GRID)}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "allocations", "stations", "kwargs", "expected"), CASES)
def test_compose_limits(name, allocations, stations, kwargs, expected):
    got = L.compose_limits(allocations, stations, **kwargs)
    assert {k: (pytest.approx(v.value_a), v.source) for k, v in got.items()} == expected, name


def test_candidates_list_every_limit_considered():
    got = L.compose_limits(
        alloc(16, A1),
        {"A": LocalLimits(station_max_a=10, connector_max_a={1: 13})},
        caps=OperatorCaps(connector_a={A1: 12}, site_a=30),
    )[A1]
    assert [c.source for c in got.candidates] == [
        L.CONNECTOR_MAX,
        L.STATION_MAX,
        L.CAP_CONNECTOR,
        L.CAP_SITE,
        GRID,
    ]
    assert (got.value_a, got.source) == (10, L.STATION_MAX)


def test_composed_limit_never_exceeds_any_candidate():
    got = L.compose_limits(
        {A1: Limit(30, GRID), A2: Limit(2, GRID), B1: Limit(9, GRID)},
        {
            "A": LocalLimits(station_max_a=22, connector_max_a={1: 16}),
            "B": LocalLimits(scn_enabled=True, scn_total_static_a=7),
        },
        caps=OperatorCaps(site_a=20, station_a={"A": 15}),
    )
    for limit in got.values():
        assert limit.value_a <= min(c.value_a for c in limit.candidates) + 1e-9
    assert sum(limit.value_a for limit in got.values()) <= 20 + 1e-9
