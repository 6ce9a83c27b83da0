"""Table tests of SCN planning: plan files, computed keys, checks and the dry run (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from csms.config.scn import (
    PlanError,
    PlanStation,
    ScnPlan,
    StationFacts,
    check_plan,
    compute_keys,
    dry_run,
    parse_plan,
    plan_from_dict,
    recommended_phases,
    station_phase_mappings,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scn-garage.toml"

YAML_PLAN = """
network:
  name: GARAGE
  total_static_current: 48
  socket_safe_current: 6
  total_safe_current: 48
stations:
  - id: ALF-0001
  - id: ALF-0002
    sockets: 2
    station_max_current: 32
    connector_max_current: [16, 16]
  - id: ALF-0003
"""


def three_stations(**network: object) -> ScnPlan:
    return ScnPlan(
        name=str(network.get("name", "GARAGE")),
        total_static_current=48.0,
        stations=(PlanStation("A"), PlanStation("B", sockets=2), PlanStation("C")),
    )


def test_example_plan_and_yaml_plan_agree() -> None:
    toml_plan = parse_plan(EXAMPLE.read_text(), "toml")
    yaml_plan = parse_plan(YAML_PLAN, "yaml")
    assert toml_plan == yaml_plan
    assert toml_plan.socket_count == 4
    assert check_plan(toml_plan) == []


def test_keys_of_three_stations_one_double() -> None:
    keys = compute_keys(parse_plan(EXAMPLE.read_text(), "toml"))
    assert [k["SCN-SocketID"] for k in keys.values()] == ["0", "1", "3"]
    assert {k["SCN-SocketCount"] for k in keys.values()} == {"4"}
    assert {k["SCN-NetworkName"] for k in keys.values()} == {"GARAGE"}
    assert {k["SCN-IsEnabled"] for k in keys.values()} == {"True"}
    assert {k["SCN-SocketSafeCurrent"] for k in keys.values()} == {"6.0"}
    assert {k["SCN-TotalStaticCurrent"] for k in keys.values()} == {"48.0"}
    assert {k["SCN-AlternatingPeriod"] for k in keys.values()} == {"900"}
    # guide 6.1.3: L1L2L3 (4), L3L1L2 (8), L2L3L1 (7); single-feeder double: same on both sockets
    assert [(k["SCN-PhaseMapping-1"], k["SCN-PhaseMapping-2"]) for k in keys.values()] == [
        ("4", "0"),
        ("8", "8"),
        ("7", "0"),
    ]
    assert keys["ALF-0002"]["Station-MaxCurrent"] == "32.0"
    assert keys["ALF-0002"]["Connector2-MaxCurrent"] == "16.0"
    assert "Station-MaxCurrent" not in keys["ALF-0001"]


def test_total_safe_current_defaults_to_total_static() -> None:
    keys = compute_keys(three_stations())
    assert keys["A"]["SCN-TotalSafeCurrent"] == "48.0"


ROTATION = [
    # (feeder index, station phases, grid phases, expected)
    (0, 3, 3, "L1L2L3"),
    (1, 3, 3, "L3L1L2"),
    (2, 3, 3, "L2L3L1"),
    (3, 3, 3, "L1L2L3"),
    (0, 1, 3, "L1"),
    (1, 1, 3, "L2"),
    (2, 1, 3, "L3"),
    (3, 1, 3, "L1"),
    (5, 1, 1, "L1"),
]


@pytest.mark.parametrize(("index", "station", "grid", "expected"), ROTATION)
def test_recommended_rotation(index: int, station: int, grid: int, expected: str) -> None:
    assert recommended_phases(index, station, grid) == expected


def test_dual_feeder_double_takes_two_rotation_steps() -> None:
    plan = ScnPlan(
        "DUAL",
        64.0,
        stations=(
            PlanStation("A", sockets=2, feeders=2),
            PlanStation("B"),
            PlanStation("C", sockets=2, phase_mapping=("9",)),
            PlanStation("D", phases=1),
        ),
    )
    assert check_plan(plan) == []
    assert station_phase_mappings(plan) == {
        "A": ("L1L2L3", "L3L1L2"),
        "B": ("L2L3L1", None),
        "C": ("L3L2L1", "L3L2L1"),  # given mapping wins, used on both sockets
        "D": ("L2", None),  # 1-phase station on the 5th feeder: L1, L2, L3, L1, L2
    }


BAD_PLANS = [
    ("name with symbols", {"name": "bad-name!"}, {}, "only A-Z and 0-9, at most 7 characters"),
    ("name too long", {"name": "ABCDEFGH"}, {}, "at most 7 characters"),
    ("one station", {}, {"stations": [{"id": "A"}]}, "at least 2 stations"),
    (
        "too many sockets",
        {},
        {"stations": [{"id": f"S{i}", "sockets": 2} for i in range(65)]},
        "130 sockets: an SCN has at most 128",
    ),
    ("duplicate ids", {}, {"stations": [{"id": "A"}, {"id": "A"}]}, "listed twice"),
    ("safe current", {"socket_safe_current": 4}, {}, "SCN-SocketSafeCurrent: '4.0' refused"),
    ("alternating", {"alternating_period": 10}, {}, "SCN-AlternatingPeriod: '10' refused"),
    ("static", {"total_static_current": 0}, {}, "SCN-TotalStaticCurrent"),
    (
        "double with two mappings on one feeder",
        {},
        {
            "stations": [
                {"id": "A", "sockets": 2, "phase_mapping": ["L1L2L3", "L3L1L2"]},
                {"id": "B"},
            ]
        },
        "identical to SCN-PhaseMapping-2",
    ),
    (
        "3-phase station on L1",
        {},
        {"stations": [{"id": "A", "phase_mapping": [1]}, {"id": "B"}]},
        "needs a 3-phase sequence",
    ),
    (
        "bad mapping code",
        {},
        {"stations": [{"id": "A", "phase_mapping": [12]}, {"id": "B"}]},
        "not a code 1–9",
    ),
    (
        "connector list length",
        {},
        {"stations": [{"id": "A", "connector_max_current": [16, 16]}, {"id": "B"}]},
        "one value per socket",
    ),
    ("three sockets", {}, {"stations": [{"id": "A", "sockets": 3}, {"id": "B"}]}, "1 or 2"),
]


@pytest.mark.parametrize(
    ("network", "extra", "rule"), [c[1:] for c in BAD_PLANS], ids=[c[0] for c in BAD_PLANS]
)
def test_plan_rules(network: dict, extra: dict, rule: str) -> None:
    data = {
        "network": {"name": "GARAGE", "total_static_current": 48, **network},
        "stations": [{"id": "A"}, {"id": "B"}],
        **extra,
    }
    problems = check_plan(plan_from_dict(data))
    assert any(rule in p for p in problems), problems


MALFORMED = [
    ("no network", {"stations": []}, "[network] table missing"),
    ("no name", {"network": {"total_static_current": 1}, "stations": []}, "network.name missing"),
    (
        "per-station network value",
        {
            "network": {"name": "A", "total_static_current": 1},
            "stations": [{"id": "X", "socket_safe_current": 8}],
        },
        "identical on every member",
    ),
    (
        "unknown top field",
        {"network": {"name": "A", "total_static_current": 1}, "stations": [], "x": 1},
        "unknown field 'x'",
    ),
    (
        "sockets not a number",
        {"network": {"name": "A", "total_static_current": 1},
         "stations": [{"id": "X", "sockets": "two"}]},
        "sockets must be a whole number",
    ),
    (
        "current not a number",
        {"network": {"name": "A", "total_static_current": "lots"}, "stations": []},
        "total_static_current must be a number",
    ),
    ("station without id", {"network": {"name": "A", "total_static_current": 1}, "stations": [{}]},
     "id missing"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "message"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_plans_raise(data: dict, message: str) -> None:
    with pytest.raises(PlanError, match=message.replace("[", r"\[").replace("]", r"\]")):
        plan_from_dict(data)


def test_syntax_errors_name_the_format() -> None:
    with pytest.raises(PlanError, match="not valid TOML"):
        parse_plan("[network\nname=", "toml")
    with pytest.raises(PlanError, match="not valid YAML"):
        parse_plan("network: [unclosed", "yaml")
    with pytest.raises(PlanError, match="toml or yaml"):
        parse_plan("", "json")


def _licensed(config: dict[str, str] | None = None) -> StationFacts:
    return StationFacts(known=True, online=True, config={"UnlockedFeatures": "1", **(config or {})})


def test_dry_run_lists_changes_then_nothing_once_applied() -> None:
    plan = parse_plan(EXAMPLE.read_text(), "toml")
    facts = {sid: _licensed() for sid in ("ALF-0001", "ALF-0002", "ALF-0003")}
    report = dry_run(plan, facts)
    assert report.ok and report.socket_count == 4
    assert [s.socket_ids for s in report.stations] == [(0,), (1, 2), (3,)]
    first = report.stations[0]
    assert {k.key for k in first.changes} >= {"SCN-SocketID", "SCN-SocketCount", "SCN-NetworkName"}
    assert all(k.current is None and k.reboot for k in first.changes)
    # the station now reports the values (in its own notation): nothing to change
    applied = compute_keys(plan)
    facts = {
        sid: _licensed({k: v.replace(".0", "") for k, v in keys.items()})
        for sid, keys in applied.items()
    }
    again = dry_run(plan, facts)
    assert again.ok
    assert [s.changes for s in again.stations] == [(), (), ()]


def test_adding_a_station_changes_socket_count_on_every_member() -> None:
    plan = three_stations()
    applied = compute_keys(plan)
    bigger = ScnPlan(
        plan.name, plan.total_static_current, stations=(*plan.stations, PlanStation("D"))
    )
    facts = {sid: _licensed(keys) for sid, keys in applied.items()} | {"D": _licensed()}
    report = dry_run(bigger, facts)
    for station in report.stations[:3]:
        assert [(k.key, k.current, k.desired) for k in station.changes] == [
            ("SCN-SocketCount", "4", "5")
        ]
    assert report.stations[3].socket_ids == (4,)


def test_dry_run_station_problems() -> None:
    plan = ScnPlan(
        "NET",
        32.0,
        stations=(
            PlanStation("lic"),
            PlanStation("nolic"),
            PlanStation("gone"),
            PlanStation("off"),
        ),
    )
    facts = {
        "lic": _licensed(),
        "nolic": StationFacts(True, True, {"UnlockedFeatures": "0x4"}),
        "off": StationFacts(True, False, None),
    }
    report = dry_run(plan, facts)
    assert not report.ok
    problems = {s.station_id: s.problems for s in report.stations}
    assert problems["lic"] == ()
    assert "no Smart Charging Network licence" in problems["nolic"][0]
    assert "unknown station" in problems["gone"][0]
    assert problems["off"][0] == "offline" and "no configuration snapshot" in problems["off"][1]
    assert any(p.startswith("nolic: no Smart Charging") for p in report.all_problems)


def test_dry_run_warns_about_members_missing_from_the_plan() -> None:
    plan = three_stations()
    facts = {sid: _licensed() for sid in ("A", "B", "C")}
    others = {
        "X": {"SCN-NetworkName": "GARAGE", "SCN-IsEnabled": "True"},
        "Y": {"SCN-NetworkName": "OTHER", "SCN-IsEnabled": "True"},
    }
    report = dry_run(plan, facts, others)
    assert report.ok
    assert len(report.warnings) == 1 and "station X" in report.warnings[0]
