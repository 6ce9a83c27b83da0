"""Table tests of the safe TxDefaultProfile shares per socket (`SiteModel.safe_defaults`) and how
the planner installs them: connector 0 at the lowest share, sockets above it on their own."""

from __future__ import annotations

import pytest

from csms.charging.model import SiteModel
from csms.charging.planner import DECREASE, DeliveryPlanner
from csms.charging.profiles import SAFE_SOCKET, TX_DEFAULT_PROFILE, ProfileCapabilities
from csms.settings import SiteSettings

A, B, C = "ALF-0001", "ALF-0002", "ALF-0003"
NOW = 1_700_000_000.0


def model(*stations: str, **site: object) -> SiteModel:
    settings = SiteSettings.model_validate(
        {"id": "s", "stations": [{"id": s, "phase_rotation": "L1L2L3"} for s in stations]} | site
    )
    return SiteModel(settings)


@pytest.mark.parametrize(
    ("name", "safe", "declared", "expected"),
    [
        ("equal shares that let EVs charge", 18.0, {A: 1, B: 1, C: 1},
         {A: {1: 6.0}, B: {1: 6.0}, C: {1: 6.0}}),
        ("whole shares in site order", 6.0, {A: 1, B: 1, C: 1},
         {A: {1: 6.0}, B: {1: 0.0}, C: {1: 0.0}}),
        ("a double's sockets get whole shares each", 6.0, {A: 2, B: 1, C: 1},
         {A: {1: 6.0, 2: 0.0}, B: {1: 0.0}, C: {1: 0.0}}),
        ("what is left shared by the chosen sockets", 20.0, {A: 1, B: 2, C: 1},
         {A: {1: 20 / 3}, B: {1: 20 / 3, 2: 20 / 3}, C: {1: 0.0}}),
        ("3 stations, 4 sockets, 12 A", 12.0, {A: 2, B: 1, C: 1},
         {A: {1: 6.0, 2: 6.0}, B: {1: 0.0}, C: {1: 0.0}}),
        ("13 A: two whole shares, the odd amp shared", 13.0, {A: 1, B: 2, C: 1},
         {A: {1: 6.5}, B: {1: 6.5, 2: 0.0}, C: {1: 0.0}}),
        ("below one minimum: equal (all paused)", 4.0, {A: 1, B: 1, C: 1},
         {A: {1: 4 / 3}, B: {1: 4 / 3}, C: {1: 4 / 3}}),
        ("socket count unknown: counted as a double", 12.0, {B: 1, C: 1},
         {A: {1: 6.0, 2: 6.0}, B: {1: 0.0}, C: {1: 0.0}}),
    ],
)  # fmt: skip
def test_safe_defaults_whole_shares_per_socket(name, safe, declared, expected):
    m = model(A, B, C, safe_current_a=safe)
    m.declared_connectors.update(declared)
    defaults = m.safe_defaults()
    assert defaults == {s: pytest.approx(v) for s, v in expected.items()}, name
    assert sum(a for shares in defaults.values() for a in shares.values()) <= safe + 1e-9, name
    minimum = m.settings.min_current_a
    if safe >= minimum:  # nobody gets a share that pauses it while another could charge
        assert all(a == 0 or a >= minimum for s in defaults.values() for a in s.values()), name


def test_one_double_station_with_six_amps_charges_one_ev_not_two_paused():
    """Issue 10 item 20: 3 A per socket (both EVs paused) became 6 A on one, 0 A on the other."""
    m = model(A, safe_current_a=6)
    m.declared_connectors[A] = 2
    assert m.safe_defaults() == {A: {1: 6.0, 2: 0.0}}
    assert m.safe_default_a() == 6.0


def answer_all(planner: DeliveryPlanner) -> list:
    sent = []
    for _ in range(20):
        batch = planner.next_commands(NOW, lambda _s: True)
        if not batch:
            return sent
        for command in batch:
            sent.append(command)
            planner.on_result(command, "Accepted", NOW)
    raise AssertionError("never settled")


def test_sockets_above_the_lowest_share_get_their_own_tx_default_profile():
    planner = DeliveryPlanner()
    planner.configure_station(A, caps=ProfileCapabilities(max_stack_level=5))
    planner.set_safe_shares(A, {1: 6.0, 2: 0.0})
    sent = answer_all(planner)
    got = {
        (c.connector_id, c.purpose): (
            c.limit_a,
            c.payload["csChargingProfiles"]["chargingProfilePurpose"],
            c.payload["csChargingProfiles"]["stackLevel"],
        )
        for c in sent
    }
    assert got == {
        (0, TX_DEFAULT_PROFILE): (0.0, TX_DEFAULT_PROFILE, 4),
        (1, SAFE_SOCKET): (6.0, TX_DEFAULT_PROFILE, 4),
    }
    assert planner.effective_a(A, 1, NOW) == 6.0 and planner.effective_a(A, 2, NOW) == 0.0

    # Equal shares again: the socket's own profile goes first (socket 1 drops to connector
    # 0's 0 A, a decrease), then connector 0 rises to the share.
    planner.set_safe_shares(A, {1: 3.0, 2: 3.0})
    first = planner.next_commands(NOW, lambda _s: True)
    assert [(c.action, c.connector_id) for c in first] == [("ClearChargingProfile", 1)]
    assert planner.station(A).in_flight == DECREASE
    planner.on_result(first[0], "Accepted", NOW)
    sent = answer_all(planner)
    assert [(c.action, c.connector_id, c.kind) for c in sent] == [
        ("SetChargingProfile", 0, "increase")
    ]
    assert planner.station(A).slots[(1, SAFE_SOCKET)].installed is None
    assert planner.effective_a(A, 1, NOW) == 3.0


def test_single_stack_level_station_using_connector_defaults_gets_the_lowest_share_only():
    # Its safe socket profile and its dynamic connector-level TxDefaultProfile would both sit at
    # stack level 0 and replace each other: every socket gets connector 0's (lowest) share.
    planner = DeliveryPlanner()
    caps = ProfileCapabilities(max_stack_level=0)
    planner.configure_station(A, caps=caps, method=TX_DEFAULT_PROFILE)
    planner.set_safe_shares(A, {1: 6.0, 2: 0.0})
    assert planner.station(A).safe_sockets == {}
    assert planner.station(A).safe_limit_a == 0.0
