"""The register map as data: read planning and decoding of every type, edge values included."""

from __future__ import annotations

import math

import pytest

from csms.modbus.registers import (
    SCN_BLOCKS,
    SCN_FIELDS,
    SOCKET_BLOCKS,
    SOCKET_FIELDS,
    STATION_BLOCKS,
    STATION_FIELDS,
    Block,
    Field,
    decode,
    decode_blocks,
    encode,
    float32_registers,
    plan_reads,
)


def test_the_seeds_example_16_a_is_0x4180_0x0000() -> None:
    assert float32_registers(16.0) == [0x4180, 0x0000]


def test_each_unit_is_read_in_as_few_requests_as_the_map_allows() -> None:
    # Gaps inside a block are reserved registers the station answers with 0xFFFF.
    assert (Block(100, 78), Block(1100, 6)) == STATION_BLOCKS
    assert (Block(1400, 32),) == SCN_BLOCKS
    assert (Block(300, 78), Block(1200, 16)) == SOCKET_BLOCKS
    for fields, blocks in ((STATION_FIELDS, STATION_BLOCKS), (SOCKET_FIELDS, SOCKET_BLOCKS),
                           (SCN_FIELDS, SCN_BLOCKS)):  # fmt: skip
        for f in fields:
            assert any(b.address <= f.address and f.address + f.size <= b.address + b.count
                       for b in blocks), f.name  # fmt: skip


def test_plan_reads_splits_at_the_request_limit_and_at_wide_gaps() -> None:
    fields = [Field("a", 0, "f32"), Field("b", 124, "f32"), Field("c", 300, "u16")]
    assert plan_reads(fields) == [Block(0, 2), Block(124, 2), Block(300, 1)]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (Field("s", 0, "string", count=5), "C2"),
        (Field("u", 0, "u16"), 3.0),
        (Field("u32", 0, "u32"), 59.0),
        (Field("u64", 0, "u64", scale=0.001), 123456.789),
        (Field("f", 0, "f32"), -2300.5),
        (Field("d", 0, "f64"), 1234567.125),
    ],
)
def test_values_survive_encode_and_decode(field: Field, value: float | str) -> None:
    decoded = decode(field, encode(field, value))
    if isinstance(value, str):
        assert decoded == value
    else:
        assert isinstance(decoded, float)
        assert math.isclose(decoded, value, rel_tol=1e-6)


@pytest.mark.parametrize(
    ("field", "registers"),
    [
        (Field("f", 0, "f32"), [0x7FC0, 0x0000]),  # NaN
        (Field("f", 0, "f32"), [0x7F80, 0x0000]),  # +Inf
        (Field("f", 0, "f32"), [0xFFFF, 0xFFFF]),  # reserved
        (Field("d", 0, "f64"), [0xFFFF] * 4),
        (Field("u", 0, "u16"), [0xFFFF]),
        (Field("u32", 0, "u32"), [0xFFFF, 0xFFFF]),
        (Field("s", 0, "string", count=2), [0xFFFF, 0xFFFF]),
    ],
)
def test_nan_inf_and_reserved_values_are_rejected(field: Field, registers: list[int]) -> None:
    assert decode(field, registers) is None


def test_decode_blocks_names_what_it_rejected() -> None:
    fields = (Field("ok", 0, "f32"), Field("bad", 2, "f32"))
    decoded = decode_blocks(fields, {Block(0, 4): [0x4180, 0, 0x7FC0, 0]})
    assert decoded.number("ok") == 16.0
    assert decoded.number("bad") is None
    assert decoded.rejected == ("bad",)


def test_a_field_outside_the_read_blocks_is_a_bug_not_a_silent_none() -> None:
    with pytest.raises(KeyError, match="1210"):
        decode_blocks((Field("x", 1210, "f32"),), {Block(0, 4): [0, 0, 0, 0]})
