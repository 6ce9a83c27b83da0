"""Table tests of local-limit parsing, the station's prediction and the station limits as nodes
of the site tree (csms.charging.limits)."""

from __future__ import annotations

import dataclasses

import pytest

from balancing import BalancerState, GridReading, LimitSource, allocate
from csms.charging import limits as L
from csms.charging.limits import Limit, LocalLimits, OperatorCaps
from csms.charging.model import SiteModel
from csms.settings import SiteSettings

S = LimitSource
GRID = S.GRID_PHASE


def alloc(amps, *keys):
    return {key: Limit(amps, GRID, "L1") for key in keys}


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

# What the station applies to a limit we send (`predict`): its own limits as it splits them.
PREDICTIONS = [
    # name, our limits, stations, kwargs, expected {key: (value, source)}
    ("our limit applies when nothing local", alloc(12, A1), {}, {}, {A1: (12, GRID)}),
    ("station max 10 single socket", alloc(16, A1),
     {"A": LocalLimits(station_max_a=10)}, {}, {A1: (10, S.STATION_MAX)}),
    ("station max tie names station max", alloc(10, A1),
     {"A": LocalLimits(station_max_a=10)}, {}, {A1: (10, S.STATION_MAX)}),
    ("station max shared over two sockets", alloc(16, A1, A2),
     {"A": LocalLimits(station_max_a=20)}, {}, {A1: (10, S.STATION_MAX), A2: (10, S.STATION_MAX)}),
    ("station max counts idle socket in use", alloc(16, A1),
     {"A": LocalLimits(station_max_a=20)}, {"in_use": [A1, A2]}, {A1: (10, S.STATION_MAX)}),
    ("connector max", alloc(16, A1, A2),
     {"A": LocalLimits(connector_max_a={1: 13}, station_max_a=40)}, {},
     {A1: (13, S.CONNECTOR_MAX), A2: (16, GRID)}),
    ("scn share over sockets in use across stations", alloc(20, A1, A2, B1),
     {"A": LocalLimits(scn_enabled=True, scn_network="N", scn_total_static_a=24),
      "B": LocalLimits(scn_enabled=True, scn_network="N", scn_total_static_a=24)}, {},
     {A1: (8, S.SCN_SHARE), A2: (8, S.SCN_SHARE), B1: (8, S.SCN_SHARE)}),
    ("double with two sockets gets twice the socket share", alloc(20, A1, A2, B1, B2),
     {"A": LocalLimits(scn_enabled=True, scn_network="N", scn_total_static_a=32),
      "B": LocalLimits(scn_enabled=True, scn_network="N", scn_total_static_a=32)},
     {"in_use": [A1, A2, B1]}, {A1: (8, S.SCN_SHARE), A2: (8, S.SCN_SHARE), B1: (8, S.SCN_SHARE),
                                B2: (8, S.SCN_SHARE)}),
    ("scn disabled ignores total", alloc(20, A1),
     {"A": LocalLimits(scn_enabled=False, scn_total_static_a=6)}, {}, {A1: (20, GRID)}),
    ("separate scn networks", alloc(20, A1, B1),
     {"A": LocalLimits(scn_enabled=True, scn_network="N1", scn_total_static_a=16),
      "B": LocalLimits(scn_enabled=True, scn_network="N2", scn_total_static_a=10)}, {},
     {A1: (16, S.SCN_SHARE), B1: (10, S.SCN_SHARE)}),
    ("station meter lost uses safe max", alloc(16, A1, A2),
     {"A": LocalLimits(safe_max_a=12)}, {"meter_lost": ["A"]},
     {A1: (6, S.STATION_SAFE), A2: (6, S.STATION_SAFE)}),
    ("meter ok ignores safe max", alloc(16, A1), {"A": LocalLimits(safe_max_a=6)}, {},
     {A1: (16, GRID)}),
    ("scn meter lost uses scn total safe", alloc(16, A1, B1),
     {"A": LocalLimits(scn_enabled=True, scn_total_static_a=40, scn_total_safe_a=14, safe_max_a=6),
      "B": LocalLimits(scn_enabled=True, scn_total_static_a=40, scn_total_safe_a=14)},
     {"meter_lost": ["A"]}, {A1: (7, S.SCN_SAFE), B1: (16, GRID)}),
    ("zero limit stays zero", alloc(0, A1), {"A": LocalLimits(station_max_a=10)}, {},
     {A1: (0, GRID)}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "ours", "stations", "kwargs", "expected"), PREDICTIONS)
def test_predict_what_the_station_applies(name, ours, stations, kwargs, expected):
    got = L.predict(ours, stations, **kwargs)
    assert {k: (pytest.approx(v.value_a), v.source) for k, v in got.items()} == expected, name


def test_the_prediction_never_exceeds_our_limit_or_a_station_limit():
    got = L.predict(
        {A1: Limit(30, GRID), A2: Limit(2, GRID), B1: Limit(9, GRID)},
        {
            "A": LocalLimits(station_max_a=22, connector_max_a={1: 16}),
            "B": LocalLimits(scn_enabled=True, scn_total_static_a=7),
        },
    )
    assert (got[A1].value_a, got[A2].value_a, got[B1].value_a) == (11, 2, 7)


# -- the limits as nodes of the site tree ---------------------------------------------------------

TA, TB, TC = "ALF-0001", "ALF-0002", "ALF-0003"
T1, T2, U1, V1 = (TA, 1), (TA, 2), (TB, 1), (TC, 1)
NO_CAPS = OperatorCaps()


def tree_limits(stations, sessions, *, caps=NO_CAPS, meter_lost=(), grid_a=100.0,
                circuits=(), station_circuit=None):  # fmt: skip
    """Allocate `sessions` (keys) on a site of stations TA, TB, TC whose snapshots gave
    `stations` (LocalLimits by id), with `caps`, a meter reading 0 A and no ramp: each
    connector's (limit, source)."""
    station_circuit = station_circuit or {}
    settings = SiteSettings.model_validate({
        "id": "s", "grid_limit_a": grid_a, "margin_a": 0, "meter": {"type": "none"},
        "circuits": list(circuits),
        "stations": [{"id": s, "circuit": station_circuit.get(s)} for s in (TA, TB, TC)],
    })  # fmt: skip
    m = SiteModel(settings)
    m.local.update(stations)
    m.caps = caps
    for tx, (station, connector) in enumerate(sessions, 1):
        m.status(station, connector, "Charging")
        m.started(station, connector, tx, 0.0)
    for station in meter_lost:
        m.status(station, 0, "Faulted", "210", "Modbus TCP/IP lost, in safe mode max 6.0A")
    site = m.balancing_site()
    instant = dataclasses.replace(site, ramp_a_per_s=None)
    reading = GridReading(0.0, (0.0, 0.0, 0.0))
    allocation = allocate(instant, reading, m.sessions(site, 0.0), BalancerState(), 0.0)
    return m.limits(allocation)


def values(limits):
    return {k: (pytest.approx(v.value_a), v.source) for k, v in limits.items()}


TREE = [
    # name, stations' local limits, sessions, kwargs, expected {key: (value, source)}
    ("connector cap", {}, [T1], {"caps": OperatorCaps(connector_a={T1: 8})},
     {T1: (8, S.CAP_CONNECTOR)}),
    ("station cap shared evenly", {}, [T1, T2], {"caps": OperatorCaps(station_a={TA: 20})},
     {T1: (10, S.CAP_STATION), T2: (10, S.CAP_STATION)}),
    # Before: the neighbour was held at 4 A by the grid; in the tree a connector max holds it.
    ("station cap gives unused share to neighbour", {TA: LocalLimits(connector_max_a={1: 8})},
     [T1, T2], {"caps": OperatorCaps(station_a={TA: 18})},
     {T1: (8, S.CONNECTOR_MAX), T2: (10, S.CAP_STATION)}),
    ("site cap over all stations", {}, [T1, U1, V1], {"caps": OperatorCaps(site_a=24)},
     {T1: (8, S.CAP_SITE), U1: (8, S.CAP_SITE), V1: (8, S.CAP_SITE)}),
    ("site cap after station max", {TA: LocalLimits(station_max_a=6)}, [T1, U1],
     {"caps": OperatorCaps(site_a=20)}, {T1: (6, S.STATION_MAX), U1: (14, S.CAP_SITE)}),
    ("a cap above the station's own limit names the station's", {TA: LocalLimits(station_max_a=10)},
     [T1], {"caps": OperatorCaps(station_a={TA: 16}, connector_a={T1: 12})},
     {T1: (10, S.STATION_MAX)}),
    ("station max shared over two sockets", {TA: LocalLimits(station_max_a=20)}, [T1, T2], {},
     {T1: (10, S.STATION_MAX), T2: (10, S.STATION_MAX)}),
    ("connector max leaves the rest to the neighbour",
     {TA: LocalLimits(connector_max_a={1: 7}, station_max_a=20)}, [T1, T2], {},
     {T1: (7, S.CONNECTOR_MAX), T2: (13, S.STATION_MAX)}),
    ("scn as a circuit over its stations",
     {TA: LocalLimits(scn_enabled=True, scn_network="N", scn_total_static_a=24),
      TB: LocalLimits(scn_enabled=True, scn_network="N", scn_total_static_a=24)},
     [T1, T2, U1], {}, {T1: (8, S.SCN_SHARE), T2: (8, S.SCN_SHARE), U1: (8, S.SCN_SHARE)}),
    ("separate scn networks",
     {TA: LocalLimits(scn_enabled=True, scn_network="N1", scn_total_static_a=16),
      TB: LocalLimits(scn_enabled=True, scn_network="N2", scn_total_static_a=10)}, [T1, U1], {},
     {T1: (16, S.SCN_SHARE), U1: (10, S.SCN_SHARE)}),
    ("scn disabled ignores total", {TA: LocalLimits(scn_total_static_a=6)}, [T1], {},
     {T1: (32, S.CONNECTOR_MAX)}),
    ("station meter lost: its safe current is its maximum", {TA: LocalLimits(safe_max_a=12)},
     [T1, T2], {"meter_lost": [TA]}, {T1: (6, S.STATION_SAFE), T2: (6, S.STATION_SAFE)}),
    ("scn meter lost: the scn's safe total",
     {TA: LocalLimits(scn_enabled=True, scn_total_static_a=40, scn_total_safe_a=14, safe_max_a=6),
      TB: LocalLimits(scn_enabled=True, scn_total_static_a=40, scn_total_safe_a=14)},
     [T1, U1], {"meter_lost": [TA]}, {T1: (7, S.SCN_SAFE), U1: (7, S.SCN_SAFE)}),
    ("the grid still binds below every node", {}, [T1, U1], {"grid_a": 20},
     {T1: (10, GRID), U1: (10, GRID)}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "stations", "sessions", "kwargs", "expected"), TREE)
def test_station_limits_and_caps_are_nodes_of_the_tree(name, stations, sessions, kwargs, expected):
    assert values(tree_limits(stations, sessions, **kwargs)) == expected, name


def test_capacity_a_capped_connector_cannot_use_goes_to_its_neighbour_at_once():
    # 25 A for two EVs: 12.5 A each. A cap of 6 A on one: the other gets 19 A in the same run,
    # where composing the cap after the allocation left it at 12.5 A (6.5 A stranded).
    before = tree_limits({}, [T1, U1], grid_a=25)
    assert values(before) == {T1: (12.5, GRID), U1: (12.5, GRID)}
    after = tree_limits({}, [T1, U1], grid_a=25, caps=OperatorCaps(connector_a={T1: 6}))
    assert values(after) == {T1: (6, S.CAP_CONNECTOR), U1: (19, GRID)}


def test_an_scn_spanning_circuits_stays_a_prediction():
    # TA on circuit C1, TB on C2: an SCN over both is no subtree, so it is not a node; the
    # station's own split still shows as the prediction.
    stations = {
        TA: LocalLimits(scn_enabled=True, scn_network="N", scn_total_static_a=16),
        TB: LocalLimits(scn_enabled=True, scn_network="N", scn_total_static_a=16),
    }
    got = tree_limits(
        stations, [T1, U1],
        circuits=[{"id": "C1", "limit_a": 40}, {"id": "C2", "limit_a": 40}],
        station_circuit={TA: "C1", TB: "C2"},
    )  # fmt: skip
    assert values(got) == {T1: (32, S.CONNECTOR_MAX), U1: (32, S.CONNECTOR_MAX)}
    assert (got[T1].predicted.value_a, got[T1].predicted.source) == (8, S.SCN_SHARE)


def test_candidates_list_every_limit_of_the_tree_above_the_socket():
    got = tree_limits(
        {TA: LocalLimits(station_max_a=10, connector_max_a={1: 13})},
        [T1],
        caps=OperatorCaps(connector_a={T1: 12}, site_a=30),
    )[T1]
    assert [(c.value_a, c.source) for c in got.candidates] == [
        (12, S.CAP_CONNECTOR),  # the socket's maximum: the lower of the cap and its own 13 A
        (10, S.STATION_MAX),
        (30, S.CAP_SITE),
        (10, S.STATION_MAX),  # the allocation, bound by the station
    ]
    assert (got.value_a, got.source) == (10, S.STATION_MAX)
    assert (got.predicted.value_a, got.predicted.source) == (10, S.STATION_MAX)


def test_a_limit_never_exceeds_a_node_above_it():
    got = tree_limits(
        {
            TA: LocalLimits(station_max_a=22, connector_max_a={1: 16}),
            TB: LocalLimits(scn_enabled=True, scn_total_static_a=7),
        },
        [T1, T2, U1],
        caps=OperatorCaps(site_a=20, station_a={TA: 15}),
    )
    for limit in got.values():
        assert limit.value_a <= min(c.value_a for c in limit.candidates) + 1e-9
    assert sum(limit.value_a for limit in got.values()) <= 20 + 1e-9
    assert got[T1].value_a + got[T2].value_a <= 15 + 1e-9
