"""`csms simulate`'s figures: Jain's fairness index and how EVs are grouped for it."""

from __future__ import annotations

import pytest

from csms.simulate.metrics import FairnessTally, jain


@pytest.mark.parametrize(
    ("values", "index"), [([1, 1, 1], 1.0), ([1, 0, 0], 1 / 3), ([2, 1], 0.9), ([0, 0], 1.0)]
)
def test_jain(values, index):
    assert jain(values) == pytest.approx(index)


def test_fairness_groups_only_equal_evs_wanting_together():
    tally = FairnessTally()
    kind, other = (3, 16.0), (1, 32.0)
    tally.add({"a": (kind, 16.0), "b": (kind, 0.0), "c": (other, 32.0)}, 600)
    tally.add({"a": (kind, 0.0), "b": (kind, 16.0), "c": (other, 32.0)}, 600)  # alternation
    tally.add({"a": (kind, 16.0), "c": (other, 0.0)}, 600)  # alone in its kind: not counted
    mean, worst = tally.index()
    assert mean == pytest.approx(1.0) and worst == pytest.approx(1.0)
    assert tally.moment_index() == pytest.approx(0.5)  # one of the two paused at every moment
    tally.add({"x": (kind, 16.0), "y": (kind, 0.0)}, 1200)  # never alternated
    mean, worst = tally.index()
    assert worst == pytest.approx(0.5) and mean == pytest.approx((1.0 * 1200 + 0.5 * 1200) / 2400)
