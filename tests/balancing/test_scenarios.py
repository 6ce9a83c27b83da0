"""Scenario files (tests/balancing/scenarios/*.yaml): sites, steps in time, expected limits.

Each step may set `at` (now), `note` (prose), `site` (a new site from this step on, e.g. a cap set
through the API; omitted = keep it), `reading` (a mapping, or null for none; omitted = keep the
previous reading, which goes stale as time passes), `sessions` (omitted = keep the previous ones)
and `expect`; an unknown key fails the scenario instead of checking nothing.
The balancer state is carried from step to step, as the control loop does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from balancing import Allocation, BalancerState, GridReading, allocate
from balancing.serde import reading_from_dict, session_from_dict, site_from_dict

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.yaml"))


def _key(text: str) -> tuple[str, int]:
    station, _, connector = text.rpartition("/")
    return station, int(connector)


STEP_KEYS = {"at", "site", "reading", "sessions", "expect", "note"}  # note: prose for the reader
EXPECT_KEYS = {
    "available_a", "other_load_a", "safe_mode", "swap_at", "pv_surplus_a", "total_a",
    "station_totals", "sockets",
}  # fmt: skip
SOCKET_KEYS = {"limit_a", "target_a", "source", "detail", "phases"}


def _refuse_unknown(where: str, given: dict[str, Any], known: set[str]) -> None:
    """A misspelt key would otherwise check nothing and pass."""
    unknown = sorted(set(given) - known)
    assert not unknown, f"{where}: unknown keys {unknown} (known: {sorted(known)})"


def _check(step: int, expect: dict[str, Any], result: Allocation) -> None:
    where = f"step {step} (t={result.at:g})"
    _refuse_unknown(f"{where} expect", expect, EXPECT_KEYS)
    for name, want in expect.get("sockets", {}).items():
        _refuse_unknown(f"{where} socket {name}", want, SOCKET_KEYS)
    approx = pytest.approx
    for field in ("available_a", "other_load_a"):
        if field in expect:
            assert getattr(result, field) == approx(expect[field], abs=1e-6), f"{where}: {field}"
    for field in ("safe_mode", "swap_at", "pv_surplus_a"):
        if field in expect:
            assert getattr(result, field) == approx(expect[field]), f"{where}: {field}"
    if "total_a" in expect:
        assert sum(a.limit_a for a in result.sockets) == approx(expect["total_a"]), where
    for station, total in expect.get("station_totals", {}).items():
        got = sum(a.limit_a for a in result.sockets if a.socket_key[0] == station)
        assert got == approx(total), f"{where}: station {station} total"
    by_key = result.by_key()
    for name, want in expect.get("sockets", {}).items():
        got = by_key[_key(name)]
        what = f"{where}: {name} got {got.limit_a} A, {got.binding}"
        if "limit_a" in want:
            assert got.limit_a == approx(want["limit_a"]), what
        if "target_a" in want:
            assert got.target_a == approx(want["target_a"]), what
        if "source" in want:
            assert got.binding.source.value == want["source"], what
        if "detail" in want:
            assert got.binding.detail == want["detail"], what
        if "phases" in want:
            assert [p.name for p in got.phases] == want["phases"], what


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path: Path) -> None:
    spec = yaml.safe_load(path.read_text())
    site = site_from_dict(spec["site"])
    state = BalancerState()
    reading: GridReading | None = None
    sessions: list[Any] = []
    for n, step in enumerate(spec["steps"]):
        _refuse_unknown(f"step {n}", step, STEP_KEYS)
        now = float(step["at"])
        if "site" in step:
            site = site_from_dict(step["site"])
        if "reading" in step:
            raw = step["reading"]
            reading = None if raw is None else reading_from_dict({"at": now, **raw})
        if "sessions" in step:
            sessions = [session_from_dict(s) for s in step["sessions"]]
        result = allocate(site, reading, sessions, state, now)
        _check(n, step.get("expect", {}), result)
        state = result.state


def test_a_misspelt_expectation_is_refused_not_ignored() -> None:
    with pytest.raises(AssertionError, match="unknown keys"):
        _refuse_unknown("step 0 expect", {"totl_a": 12.0}, EXPECT_KEYS)
    with pytest.raises(AssertionError, match="unknown keys"):
        _refuse_unknown("step 0 socket A/1", {"limit": 6.0}, SOCKET_KEYS)


def test_there_are_scenarios_for_the_guide_examples() -> None:
    names = {p.stem for p in SCENARIOS}
    assert {
        "guide_6_1_1_3_alternating",
        "guide_6_1_1_4_double_station",
        "guide_5_1_4_3_pv_table",
        "one_phase_ev_beside_overload",
        "redistribution_capped_ev",
        "meter_outage_and_ramp",
        "release_full_ev",
        "unknown_phases_probe",
        "alternation_serves_everyone",
        "pv_three_phase_ev_on_one_phase_surplus",
        "every_limit_in_one_tree",
    } <= names
