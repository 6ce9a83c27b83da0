"""The control loop's estimate of each EV's current, which it takes out of the grid meter to find
the household: it must err safe (never more than the EV was measured drawing)."""

from __future__ import annotations

import pytest

from csms.charging.model import SiteModel
from csms.settings import SiteSettings

A = "ALF-0001"


def model(**site: object) -> SiteModel:
    settings = SiteSettings.model_validate({"id": "s", "stations": [{"id": A}]} | site)
    return SiteModel(settings)


def sample(m: SiteModel, grid: tuple[float, float, float], at: float) -> None:
    values = {("Current.Import", f"L{p + 1}"): grid[p] for p in range(3)}
    m.sampled(A, 1, values, received_at=at)


# Limits the station applied: 6 A from t=0, 10 A from t=9 (the sample arrives at t=10).
HISTORY = [(0.0, 6.0), (9.0, 10.0)]


@pytest.mark.parametrize(
    ("name", "grid", "history", "reading_at", "expected"),
    [
        ("no profile known: the sample", (5.0, 5.0, 5.0), [], 20.0, (5.0, 5.0, 5.0)),
        ("the sample, below its limit", (7.0, 7.0, 7.0), [(0.0, 10.0)], 20.0, (7.0, 7.0, 7.0)),
        ("a sample above the limit in force: the limit", (12.0, 12.0, 12.0), [(0.0, 10.0)],
         20.0, (10.0, 10.0, 10.0)),
        ("raised after the sample: what it drew, not the new limit", (6.0, 6.0, 6.0), HISTORY,
         20.0, (6.0, 6.0, 6.0)),
        ("cut before the reading: the new limit", (10.0, 10.0, 10.0), [(0.0, 10.0), (15.0, 7.0)],
         20.0, (7.0, 7.0, 7.0)),
        ("meter read before a raise: the limit then", (9.0, 9.0, 9.0), HISTORY, 8.0,
         (6.0, 6.0, 6.0)),
        ("meter read before several changes", (9.0, 9.0, 9.0),
         [(0.0, 1.5), (5.0, 7.0), (6.0, 9.0)], 4.0, (0.0, 0.0, 0.0)),
        ("meter read before the session started", (9.0, 9.0, 9.0), [(0.0, 10.0)], -5.0,
         (0.0, 0.0, 0.0)),
        ("one-phase EV stays on its phase", (0.0, 6.0, 0.0), HISTORY, 20.0, (0.0, 6.0, 0.0)),
        ("never sampled: nothing taken out", None, [(0.0, 10.0)], 20.0, None),
        ("below the minimum current the EV pauses", (8.0, 8.0, 8.0), [(0.0, 1.5)], 20.0,
         (0.0, 0.0, 0.0)),
        ("an EV drawing less than offered: what it draws", (4.0, 4.0, 4.0), HISTORY, 20.0,
         (4.0, 4.0, 4.0)),
        ("paused and raised again since the sample: it may still be paused", (10.0, 10.0, 10.0),
         [(0.0, 10.0), (12.0, 0.0), (13.0, 10.0)], 20.0, (0.0, 0.0, 0.0)),
        ("cut just before the sample: the sample may not show it yet", (10.0, 10.0, 10.0),
         [(0.0, 10.0), (7.0, 7.0), (11.0, 10.0)], 20.0, (7.0, 7.0, 7.0)),
        ("started by a swap, not drawing yet: 0, not the offer", (0.0, 0.0, 0.0),
         [(0.0, 0.0), (9.0, 7.5)], 20.0, (0.0, 0.0, 0.0)),
    ],
)  # fmt: skip
def test_ev_estimate_is_the_lower_plausible_current(name, grid, history, reading_at, expected):
    m = model()
    m.status(A, 1, "Charging")
    m.started(A, 1, 1, 0.0)
    if grid is not None:
        sample(m, grid, at=10.0)
    for since, limit in history:
        m.note_limit((A, 1), since, limit)
    assert m.ev_estimate((A, 1), reading_at) == expected, name


def test_a_new_session_inherits_nothing_measured_of_the_previous_ev():
    m = model()
    m.status(A, 1, "Charging")
    m.started(A, 1, 1, 0.0)
    sample(m, (0.0, 10.0, 0.0), at=10.0)  # a one-phase EV on L2
    m.note_limit((A, 1), 0.0, 10.0)
    m.stopped(1)
    m.started(A, 1, 2, 100.0)  # a new EV on the same connector, not measured yet
    m.note_limit((A, 1), 100.0, 10.0)
    assert m.ev_estimate((A, 1), 120.0) is None
