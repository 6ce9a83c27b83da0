"""MeterReading validation: NaN/Inf/out-of-range values never reach balancing."""

from __future__ import annotations

import math

import pytest

from csms.meter.reading import MAX_CURRENT_A, InvalidReading, make_reading


def test_valid_reading_keeps_signs_and_optional_values() -> None:
    reading = make_reading(1000.0, [10, -8.5, 0], [2300, -1955, 0], None, source="test")
    assert reading.current_a == (10.0, -8.5, 0.0)
    assert reading.power_w == (2300.0, -1955.0, 0.0)
    assert reading.voltage_v is None
    assert reading.as_dict() == {
        "at": 1000.0,
        "current_a": [10.0, -8.5, 0.0],
        "power_w": [2300.0, -1955.0, 0.0],
        "voltage_v": None,
        "source": "test",
    }


@pytest.mark.parametrize(
    ("current", "power", "voltage", "reason"),
    [
        pytest.param([math.nan, 0, 0], None, None, "current L1 is nan", id="nan-current"),
        pytest.param([0, math.inf, 0], None, None, "current L2 is inf", id="inf-current"),
        pytest.param([0, 0, -math.inf], None, None, "current L3 is -inf", id="minus-inf"),
        pytest.param([MAX_CURRENT_A + 1, 0, 0], None, None, "outside", id="too-much-current"),
        pytest.param([0, 0, 0], [0, math.nan, 0], None, "power L2 is nan", id="nan-power"),
        pytest.param([0, 0, 0], None, [230, 230, -1], "voltage L3", id="negative-voltage"),
        pytest.param([0, 0, 0], None, [230, 900, 230], "voltage L2", id="voltage-too-high"),
        pytest.param([0, 0], None, None, "expected 3 phases", id="two-phases"),
    ],
)
def test_bad_values_are_rejected_with_the_reason(current, power, voltage, reason) -> None:
    with pytest.raises(InvalidReading, match=reason):
        make_reading(1.0, current, power, voltage)


def test_bad_time_is_rejected() -> None:
    with pytest.raises(InvalidReading, match="epoch"):
        make_reading(math.nan, [0, 0, 0])
