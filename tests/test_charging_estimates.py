"""The control loop's estimate of each EV's current, which it takes out of the grid meter to find
the household: it must err safe (never more than the EV was measured drawing)."""

from __future__ import annotations

from balancing import phase_rotation
from csms.charging.model import SiteModel
from csms.settings import SiteSettings

A = "ALF-0001"
L1L2L3 = phase_rotation("L1L2L3")


def model(**site: object) -> SiteModel:
    settings = SiteSettings.model_validate({"id": "s", "stations": [{"id": A}]} | site)
    return SiteModel(settings)


def sample(m: SiteModel, grid: tuple[float, float, float], at: float) -> None:
    values = {("Current.Import", f"L{p + 1}"): grid[p] for p in range(3)}
    m.sampled(A, 1, values, received_at=at)


def test_a_new_session_does_not_inherit_the_previous_evs_phases():
    m = model()
    m.status(A, 1, "Charging")
    m.started(A, 1, 1, 0.0)
    sample(m, (0.0, 10.0, 0.0), at=10.0)  # a one-phase EV on L2
    m.stopped(1)
    m.started(A, 1, 2, 100.0)  # a new EV on the same connector, not measured yet
    assert m.connectors[(A, 1)].drawing_on is None
