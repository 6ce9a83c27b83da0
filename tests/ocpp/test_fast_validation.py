"""The generated fast check accepts and refuses exactly the payloads the precise path does.

Payloads are generated from each action's own (relaxed) schema: mostly valid, with a small chance
at every node of a wrong type, an unknown enum value, an over-long or NUL-holding string, an
out-of-range or float integer, a missing required key or an unknown key. For every payload,
`validate_request` (fast check first) and `precise_validation` (fastjsonschema and the NUL walk
alone) must agree: both accept, or both refuse with the same OCPP-J error code.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csms.ocpp import errors, fastvalidation
from csms.ocpp.validation import (
    STATION_ACTIONS,
    fast_check,
    precise_validation,
    relaxed_schema,
    validate_request,
)

HOT = ("MeterValues", "StatusNotification", "Heartbeat", "StartTransaction", "StopTransaction")

JUNK = st.sampled_from(
    [None, True, False, 0, 1, -1, 1.0, 1.5, 2**31, -(2**31) - 1, 2**63, 2**70, float("inf"),
     "", "x", "\x00", "a\x00b", "Wh", "x" * 256, [], [{}], {}, {"a": 1}, (1,)]
)  # fmt: skip


def _integer(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    low, high = schema.get("minimum"), schema.get("maximum")
    ints = st.integers(min_value=low, max_value=high)
    edges = [v + d for v in (low, high) if v is not None for d in (-1, 0, 1)]
    return st.one_of(ints, ints, ints.map(float), st.sampled_from(edges or [2**70]))


def _string(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "enum" in schema:
        return st.one_of(st.sampled_from(schema["enum"]), st.sampled_from(["", "Wh ", "other"]))
    longest = schema.get("maxLength", 30)
    at_edge = st.sampled_from([longest, longest + 1]).flatmap(
        lambda n: st.text(alphabet="aé€", min_size=n, max_size=n)
    )
    return st.one_of(st.text(max_size=longest), at_edge, st.text(alphabet="ab\x00", max_size=4))


def payloads(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Near-valid values of `schema`: valid mostly, junk now and then at every node."""
    kind = schema.get("type")
    if kind == "object":
        valid = _object(schema, depth)
    elif kind == "array":
        item = payloads(schema.get("items", {"type": "string"}), depth + 1)
        valid = st.lists(item, min_size=0, max_size=3)
    elif kind == "integer":
        valid = _integer(schema)
    elif kind == "string":
        valid = _string(schema)
    else:
        valid = st.booleans()
    return st.one_of(valid, valid, valid, valid, valid, valid, valid, valid, valid, JUNK)


def _object(schema: dict[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    fields = {key: payloads(sub, depth + 1) for key, sub in properties.items()}

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, strategy in fields.items():
            keep = draw(st.integers(0, 19))
            if (key in required and keep > 0) or (key not in required and keep >= 10):
                out[key] = draw(strategy)
        if draw(st.integers(0, 29)) == 0:
            out[draw(st.sampled_from(["extra", "a\x00", "Value"]))] = 1
        return out

    return build()


def outcome(check: Any, action: str, payload: Any) -> str | None:
    try:
        check(action, payload)
    except errors.OcppCallError as exc:
        return exc.code
    return None


def agree(action: str, payload: Any) -> str | None:
    fast = outcome(validate_request, action, payload)
    precise = outcome(precise_validation, action, payload)
    assert fast == precise, (action, payload)
    check = fast_check(action)
    assert check is not None
    assert check(payload) == (precise is None), (action, payload)
    return precise


@pytest.mark.parametrize("action", HOT)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_and_precise_agree_on_hot_actions(action: str, data: st.DataObject) -> None:
    agree(action, data.draw(payloads(relaxed_schema(action))))


@pytest.mark.parametrize("action", sorted(set(STATION_ACTIONS) - set(HOT)))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_fast_and_precise_agree_on_the_other_actions(action: str, data: st.DataObject) -> None:
    agree(action, data.draw(payloads(relaxed_schema(action))))


METER = {
    "connectorId": 1,
    "transactionId": 7,
    "meterValue": [
        {"timestamp": "2026-11-21T10:00:00Z", "sampledValue": [{"value": "1", "unit": "Wh"}]}
    ],
}


PROPERTY = errors.PROPERTY_CONSTRAINT_VIOLATION


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    payload = copy.deepcopy(METER)
    node: Any = payload
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return payload


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (METER, None),
        (_with(["connectorId"], "1"), errors.TYPE_CONSTRAINT_VIOLATION),
        (_with(["connectorId"], True), errors.TYPE_CONSTRAINT_VIOLATION),
        (_with(["connectorId"], 1.0), None),  # draft 4: an integral float is an integer
        (_with(["connectorId"], 2**31), PROPERTY),
        (_with(["meterValue"], []), errors.OCCURENCE_CONSTRAINT_VIOLATION),
        (_with(["extra"], 1), errors.FORMATION_VIOLATION),
        (_with(["meterValue", 0, "sampledValue", 0, "unit"], "Watt"), PROPERTY),
        (_with(["meterValue", 0, "sampledValue", 0, "value"], "1\x00"), PROPERTY),
        (_with(["meterValue", 0, "sampledValue", 0, "context"], "CurrentMax"), None),
    ],
)
def test_known_cases_give_the_precise_code(payload: dict[str, Any], code: str | None) -> None:
    assert agree("MeterValues", payload) == code


def test_every_station_action_gets_a_fast_check() -> None:
    for action in STATION_ACTIONS:
        assert fast_check(action) is not None, action


def test_keywords_beyond_the_generator_leave_the_precise_path_alone() -> None:
    with pytest.raises(fastvalidation.UnsupportedSchema):
        fastvalidation.accepts({"type": "string", "pattern": "^a$"})
    with pytest.raises(fastvalidation.UnsupportedSchema):
        fastvalidation.accepts({"type": "object", "properties": {}})  # open: keys unchecked


def test_unknown_action_is_not_implemented() -> None:
    assert outcome(validate_request, "Reboot", {}) == errors.NOT_IMPLEMENTED
