"""The register table and codecs (pure): decoding, encoding, read planning, sign rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csms.meter.registers import (
    DATA_TYPES,
    PRESETS,
    PRIMARY_MODELS,
    ReadRequest,
    RegisterMap,
    RegisterSpec,
    decode_value,
    encode_value,
    extract,
    plan_reads,
    signed_currents,
)


def test_low_word_first_u32_with_scale() -> None:
    # 123456 = 0x0001_E240: low word 0xE240 is sent first.
    spec = RegisterSpec(0, 4, "u32", 0.001)
    assert decode_value(spec, [0xE240, 0x0001], "low-first") == 123.456
    assert decode_value(spec, [0x0001, 0xE240], "high-first") == 123.456
    assert encode_value(spec, 123.456, "low-first") == [0xE240, 0x0001]


def test_negative_s32_low_word_first() -> None:
    spec = RegisterSpec(0, 4, "s32", 0.1)
    registers = encode_value(spec, -1840.0, "low-first")
    assert registers == [0xB820, 0xFFFF]  # -18400
    assert decode_value(spec, registers, "low-first") == -1840.0


def test_scale_gives_exact_decimal_values() -> None:
    spec = RegisterSpec(0, 3, "u32", 0.001)
    assert decode_value(spec, [0, 12345], "high-first") == 12.345


def test_float32_noise_is_dropped() -> None:
    spec = RegisterSpec(0, 3, "f32", 1000.0)  # kW register
    assert decode_value(spec, encode_value(spec, 2415.0, "high-first"), "high-first") == 2415.0


def test_integers_saturate_instead_of_wrapping() -> None:
    spec = RegisterSpec(0, 3, "u16", 1.0)
    assert encode_value(spec, 70000, "high-first") == [0xFFFF]
    assert encode_value(spec, -3, "high-first") == [0]


def test_decode_wants_exactly_the_value_size() -> None:
    with pytest.raises(ValueError, match="needs 2 registers"):
        decode_value(RegisterSpec(0, 3, "s32"), [1, 2, 3, 4], "high-first")


@given(
    data_type=st.sampled_from(DATA_TYPES),
    word_order=st.sampled_from(["high-first", "low-first"]),
    value=st.integers(min_value=-30000, max_value=30000),
)
def test_round_trip_every_type_and_word_order(data_type, word_order, value) -> None:
    spec = RegisterSpec(0, 3, data_type, 0.01)
    if data_type.startswith("u"):
        value = abs(value)
    physical = value / 100
    registers = encode_value(spec, physical, word_order)
    assert len(registers) == spec.count
    assert decode_value(spec, registers, word_order) == pytest.approx(physical, abs=1e-6)


def test_plan_merges_only_contiguous_registers_per_function_code() -> None:
    specs = [
        RegisterSpec(10, 3, "u32"),
        RegisterSpec(12, 3, "u32"),
        RegisterSpec(16, 3, "u32"),  # gap at 14-15: separate request
        RegisterSpec(12, 4, "u16"),  # other function code
    ]
    assert plan_reads(specs) == [
        ReadRequest(3, 10, 4),
        ReadRequest(3, 16, 2),
        ReadRequest(4, 12, 1),
    ]


def test_plan_refuses_overlapping_values() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        plan_reads([RegisterSpec(10, 3, "u32"), RegisterSpec(11, 3, "u16")])


def test_extract_finds_a_value_inside_a_merged_block() -> None:
    request = ReadRequest(3, 10, 4)
    blocks = {request: [0, 5, 0, 7]}
    assert extract(RegisterSpec(12, 3, "u32"), blocks, "high-first") == 7
    with pytest.raises(KeyError):
        extract(RegisterSpec(20, 3, "u32"), blocks, "high-first")


def test_sign_comes_from_power_when_the_map_has_it() -> None:
    m = PRESETS["socomec-e27"]
    assert signed_currents(m, [10, 8, 7], [2300, 0, -1600]) == (10, 8, -7)
    no_power = RegisterMap("x", m.current)
    assert signed_currents(no_power, [10, -8, 7], None) == (10, -8, 7)


@pytest.mark.parametrize("model", PRIMARY_MODELS)
def test_every_preset_is_consistent(model: str) -> None:
    m = PRESETS[model]
    assert m.power is not None, "presets read power for the current's sign"
    assert len({s.function_code for s in m.specs()}) == 1
    plan_reads(m.specs())  # no overlaps


def test_aliases_share_a_row_and_socomec_defaults_to_unit_5() -> None:
    assert PRESETS["carlo-gavazzi-em340"] is PRESETS["carlo-gavazzi-em24"]
    assert PRESETS["socomec-e27"].default_unit == 5
    assert PRESETS["carlo-gavazzi-em24"].word_order == "low-first"
