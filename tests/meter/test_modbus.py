"""The Modbus TCP reader against real pymodbus servers (the meter simulator).

Acceptance 1: every preset decodes the exact values, including export (negative) current.
Acceptance 2: a custom map with low-word-first 32-bit values and a scale decodes correctly.
"""

from __future__ import annotations

import pytest

from csms.meter.config import CustomMapSettings
from csms.meter.modbus import MeterReadError, MeterUnreachable, ModbusMeter, read_once
from csms.meter.reading import InvalidReading
from csms.meter.registers import PRESETS, PRIMARY_MODELS

HOUSEHOLD = (10.5, 8.25, 12.0)
PV = (0.0, 0.0, 20.0)  # more PV than load on L3: export
EXPECTED_A = (10.5, 8.25, -8.0)


@pytest.mark.parametrize("model", PRIMARY_MODELS)
async def test_each_preset_decodes_exact_values_including_export(meter_sim_factory, model) -> None:
    meter = await meter_sim_factory(model, household_a=HOUSEHOLD, pv_a=PV)
    reading = await read_once(meter.host, meter.port, meter.unit, PRESETS[model], timeout_s=2)
    assert reading.current_a == EXPECTED_A
    assert reading.power_w is not None
    # power = 230 V × signed current, in each meter's own resolution
    resolution = 10.0 if model == "socomec-e27" else 0.0
    for got, amps in zip(reading.power_w, EXPECTED_A, strict=True):
        assert abs(got - 230.0 * amps) <= resolution
    assert reading.power_w[2] < 0
    if PRESETS[model].voltage is not None:
        assert reading.voltage_v == (230.0, 230.0, 230.0)
    assert reading.source.startswith(f"modbus {model} unit {meter.unit}")


async def test_socomec_answers_on_unit_5_by_default(meter_sim) -> None:
    assert meter_sim.unit == 5
    reading = await read_once(meter_sim.host, meter_sim.port, 5, PRESETS["socomec-e27"])
    assert reading.current_a == (10.0, 8.0, 12.0)


async def test_custom_map_low_word_first_32_bit_with_scale(meter_sim_factory) -> None:
    # An EM24-like map written by hand: int32 low word first, current in mA, power in W/10.
    custom = CustomMapSettings.model_validate(
        {
            "word_order": "low-first",
            **{
                f"current_l{n}": {
                    "register": 0x0C + 2 * (n - 1),
                    "function_code": 4,
                    "data_type": "s32",
                    "scale": 0.001,
                }
                for n in (1, 2, 3)
            },
            **{
                f"power_l{n}": {
                    "register": 0x12 + 2 * (n - 1),
                    "function_code": 4,
                    "data_type": "s32",
                    "scale": 0.1,
                }
                for n in (1, 2, 3)
            },
        }
    )
    register_map = custom.register_map()
    meter = await meter_sim_factory(
        register_map, unit=2, household_a=(16.123, 0.5, 3), pv_a=(0, 0, 7.25)
    )
    reading = await read_once(meter.host, meter.port, 2, register_map)
    assert reading.current_a == (16.123, 0.5, -4.25)
    assert reading.power_w == (3708.3, 115.0, -977.5)

    # Read high word first, the same registers give absurd values, which are rejected.
    wrong = custom.model_copy(update={"word_order": "high-first"}).register_map()
    with pytest.raises(InvalidReading, match=r"current L1 = .* is outside"):
        await read_once(meter.host, meter.port, 2, wrong)


async def test_custom_map_unsigned_magnitudes_only(meter_sim_factory) -> None:
    custom = CustomMapSettings.model_validate(
        {
            "magnitude_only": True,
            **{
                f"current_l{n}": {"register": 100 + 4 * n, "data_type": "u64", "scale": 0.01}
                for n in (1, 2, 3)
            },
        }
    )
    register_map = custom.register_map()
    meter = await meter_sim_factory(register_map, household_a=(5, 6, 7), pv_a=(0, 0, 10))
    reading = await read_once(meter.host, meter.port, meter.unit, register_map)
    # Such a meter cannot show export: L3 reads as 3 A import (the configuration said so).
    assert reading.current_a == (5.0, 6.0, 3.0)
    assert reading.power_w is None


async def test_wrong_unit_and_wrong_model_are_read_errors(meter_sim) -> None:
    with pytest.raises(MeterReadError, match="wrong unit id"):
        await read_once(meter_sim.host, meter_sim.port, 7, PRESETS["socomec-e27"])
    with pytest.raises(MeterReadError, match="illegal data address"):
        await read_once(meter_sim.host, meter_sim.port, 5, PRESETS["abb-b23"])


async def test_unreachable_meter(unused_tcp_port) -> None:
    with pytest.raises(MeterUnreachable, match="cannot connect"):
        await read_once("127.0.0.1", unused_tcp_port, 5, PRESETS["socomec-e27"], timeout_s=1)


async def test_one_connection_for_many_reads(meter_sim) -> None:
    async with ModbusMeter(meter_sim.host, meter_sim.port, 5, PRESETS["socomec-e27"]) as meter:
        for _ in range(5):
            await meter.read()
        assert meter_sim.sim.connections == 1
    assert meter_sim.sim.total_connections == 1


async def test_silent_meter_times_out(meter_sim) -> None:
    async with ModbusMeter(
        meter_sim.host, meter_sim.port, 5, PRESETS["socomec-e27"], timeout_s=0.3
    ) as meter:
        await meter_sim.sim.outage("silent")
        with pytest.raises(MeterUnreachable, match=r"within 0\.3 s"):
            await meter.read()
