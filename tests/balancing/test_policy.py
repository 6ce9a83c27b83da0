"""Sharing policies (issue 11, item 6): the same sites under equal-current, equal-power and
max-energy. Admission is the same for all three; they differ in how the current above the
minimums is shared."""

from __future__ import annotations

import pytest

from balancing import (
    BalancerState,
    GridReading,
    Session,
    Sharing,
    Site,
    Socket,
    Station,
    allocate,
)
from balancing.serde import site_from_dict
from csms.charging.model import SiteModel
from csms.settings import SiteSettings

POLICIES = list(Sharing)


def _site(grid: float, sharing: Sharing, *stations: Station) -> Site:
    return Site(grid_limit_a=grid, stations=stations, ramp_a_per_s=None, sharing=sharing)


def _one(name: str, max_a: float = 32.0) -> Station:
    return Station(name, max_a, (Socket(1, max_a),))


def _limits(site: Site, sessions: list[Session], meter: tuple[float, float, float]) -> list[float]:
    a = allocate(site, GridReading(0.0, meter), sessions, BalancerState(), 0.0)
    return [x.limit_a for x in a.sockets]


ONE, THREE = 1, 3
CASES = {
    # The example: a 1-phase and a 3-phase EV share 22 A on L1, L2 and L3 have 40 A.
    "1-phase beside 3-phase on a tight L1": (
        40.0,
        (18.0, 0.0, 0.0),
        [ONE, THREE],
        {
            Sharing.EQUAL_CURRENT: [11.0, 11.0],  # 11 A idle on L2 and L3
            Sharing.EQUAL_POWER: [16.0, 6.0],  # 16 A·phases vs 18 (the 3-phase EV's minimum)
            # The 1-phase EV yields L1: 3 × 22 = 66 A·phases instead of 44 (6 + 3 × 16 = 54
            # with it at its minimum), see test_throughput.py
            Sharing.MAX_ENERGY: [0.0, 22.0],
        },
    ),
    # The same, but L2 leaves the 3-phase EV 17 A: pausing the 1-phase EV would win 3 A·phases
    # for its 6, so it keeps its minimum; the 3-phase EV rises first.
    "1-phase beside 3-phase, L1 and L2 tight": (
        40.0,
        (18.0, 23.0, 0.0),
        [ONE, THREE],
        {
            Sharing.EQUAL_CURRENT: [11.0, 11.0],
            Sharing.EQUAL_POWER: [16.0, 6.0],  # as without L2: L1 binds
            Sharing.MAX_ENERGY: [6.0, 16.0],  # 6 + 3 × 16 = 54 A·phases instead of 44
        },
    ),
    # Every phase equally tight, two 1-phase EVs (L1) and a 3-phase EV.
    "even phases, two 1-phase EVs and a 3-phase EV": (
        30.0,
        (0.0, 0.0, 0.0),
        [ONE, ONE, THREE],
        {
            Sharing.EQUAL_CURRENT: [10.0, 10.0, 10.0],
            Sharing.EQUAL_POWER: [12.0, 12.0, 6.0],  # 12 A·phases for 1-phase vs 18: floor
            Sharing.MAX_ENERGY: [0.0, 0.0, 30.0],  # both yield: 90 A·phases instead of 66
        },
    ),
    # All 3-phase: the policies agree (same phases, same share).
    "all 3-phase": (
        25.0,
        (5.0, 0.0, 0.0),
        [THREE, THREE],
        {p: [10.0, 10.0] for p in POLICIES},
    ),
    # Enough for everyone's own max: the policies agree.
    "no shortage": (
        63.0,
        (0.0, 0.0, 0.0),
        [ONE, THREE],
        {p: [16.0, 16.0] for p in POLICIES},
    ),
}


@pytest.mark.parametrize("policy", POLICIES, ids=[p.value for p in POLICIES])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_policies(case: str, policy: Sharing) -> None:
    grid, meter, phases, expected = CASES[case]
    max_a = 16.0 if case == "no shortage" else 32.0
    stations = [_one(f"S{i}", max_a) for i in range(len(phases))]
    site = _site(grid, policy, *stations)
    sessions = [
        Session((f"S{i}", 1), 0.0, phases_hint=n) for i, n in enumerate(phases)
    ]  # 1-phase EVs on L1 (EV phase 1 of an L1L2L3 feeder)
    assert _limits(site, sessions, meter) == expected[policy]


@pytest.mark.parametrize("policy", POLICIES, ids=[p.value for p in POLICIES])
def test_every_policy_admits_the_same_and_keeps_the_minimum(policy: Sharing) -> None:
    # 17 A on L1 for three EVs of 6 A minimum: two fit, whatever the policy.
    site = _site(17.0, policy, *(_one(f"S{i}") for i in range(3)))
    sessions = [Session((f"S{i}", 1), 0.0, phases_hint=n) for i, n in enumerate([1, 3, 1])]
    limits = _limits(site, sessions, (0.0, 0.0, 0.0))
    assert sorted(v > 0 for v in limits) == [False, True, True]
    assert all(v == 0 or v >= 6.0 for v in limits) and sum(limits) <= 17.0


def test_sharing_is_read_from_plain_data_and_checked() -> None:
    site = site_from_dict({"grid_limit_a": 25, "sharing": "max-energy", "stations": []})
    assert site.sharing is Sharing.MAX_ENERGY
    with pytest.raises(ValueError, match="sharing must be one of 'equal-current'"):
        site_from_dict({"grid_limit_a": 25, "sharing": "fastest", "stations": []})
    assert Site(grid_limit_a=25, stations=()).sharing is Sharing.EQUAL_CURRENT


def test_the_site_setting_reaches_the_balancer() -> None:
    # The shell's part: `sharing` in the site's settings, passed through by the site model.
    settings = SiteSettings.model_validate({"id": "s", "sharing": "equal-power"})
    assert SiteModel(settings).balancing_site().sharing is Sharing.EQUAL_POWER
    default = SiteSettings.model_validate({"id": "s"})
    assert SiteModel(default).balancing_site().sharing is Sharing.EQUAL_CURRENT
    with pytest.raises(ValueError, match="sharing"):
        SiteSettings.model_validate({"id": "s", "sharing": "fastest"})
