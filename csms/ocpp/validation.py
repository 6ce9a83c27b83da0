"""Validation of station-initiated OCPP 1.6 payloads against the schemas the `ocpp` package ships.

Each action's schema is compiled on its first use (not at import: `csms serve` opens its port
sooner) into two checks: a generated yes/no check (`csms.ocpp.fastvalidation`) that every payload
meets first, and fastjsonschema's validator, which only a payload the fast check refuses meets, for
the OCPP-J error code and message. Strict where a frame is malformed, lenient where real stations
are known to deviate: those deviations are patched into the schemas here, in one table, not spread
as branches.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import fastjsonschema
import orjson

from csms.ocpp import errors, fastvalidation

# Messages a charge point may send to a central system in OCPP 1.6.
STATION_ACTIONS = (
    "Authorize",
    "BootNotification",
    "DataTransfer",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "SecurityEventNotification",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
)

# Known deviations of real stations, accepted on purpose (see reference/field-lessons.md).
# Alfen sends context "CurrentMax" in MeterValues (and transactionData).
EXTRA_ENUM_VALUES: dict[str, tuple[str, ...]] = {"context": ("CurrentMax",)}

# Integers must fit the columns that store them (PostgreSQL INTEGER / BIGINT, SQLite's 64 bits),
# else a bad value fails the write as an InternalError. transactionId stays unbounded: an id we
# cannot store is kept as unknown (Alfen sends 2^63 - 1 where it has none).
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
INTEGER_RANGES: dict[str, tuple[int, int] | None] = {
    "meterStart": INT64,
    "meterStop": INT64,
    "transactionId": None,
}

Validator = Callable[[Any], Any]


def _relax(schema: Any) -> Any:
    """Add tolerated enum values and integer bounds; drop `format` checks (timestamps are parsed
    leniently later)."""
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "format" and isinstance(value, str):
                continue  # the keyword; a property named "format" (sampledValue) is a dict
            out[key] = _relax(value)
        for name, extra in EXTRA_ENUM_VALUES.items():
            prop = out.get("properties", {}).get(name)
            if isinstance(prop, dict) and "enum" in prop:
                prop["enum"] = [*prop["enum"], *extra]
        for name, prop in out.get("properties", {}).items():
            bounds = INTEGER_RANGES.get(name, INT32)
            if isinstance(prop, dict) and prop.get("type") == "integer" and bounds is not None:
                prop.setdefault("minimum", bounds[0])
                prop.setdefault("maximum", bounds[1])
        return out
    if isinstance(schema, list):
        return [_relax(item) for item in schema]
    return schema


def _load(name: str) -> dict[str, Any]:
    text = (resources.files("ocpp.v16") / "schemas" / f"{name}.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def relaxed_schema(name: str) -> dict[str, Any]:
    """The 1.6 request schema of action `name` with the tolerated deviations patched in."""
    schema: dict[str, Any] = _relax(copy.deepcopy(_load(name)))
    schema.pop("$schema", None)
    schema.pop("id", None)
    return schema


_PRECISE: dict[str, Validator] = {}
_FAST: dict[str, fastvalidation.FastCheck | None] = {}


def precise_validator(action: str) -> Validator:
    """fastjsonschema's validator of `action`, compiled on first use."""
    validator = _PRECISE.get(action)
    if validator is None:
        validator = _PRECISE[action] = fastjsonschema.compile(relaxed_schema(action))
    return validator


def fast_check(action: str) -> fastvalidation.FastCheck | None:
    """The generated yes/no check of `action` (None: the schema is beyond the generator)."""
    if action not in _FAST:
        try:
            _FAST[action] = fastvalidation.accepts(relaxed_schema(action))
        except fastvalidation.UnsupportedSchema:
            _FAST[action] = None
    return _FAST[action]


_RULE_TO_CODE = {
    "required": errors.OCCURENCE_CONSTRAINT_VIOLATION,
    "minItems": errors.OCCURENCE_CONSTRAINT_VIOLATION,
    "maxItems": errors.OCCURENCE_CONSTRAINT_VIOLATION,
    "type": errors.TYPE_CONSTRAINT_VIOLATION,
    "additionalProperties": errors.FORMATION_VIOLATION,
}


def nul_path(value: Any, path: str = "") -> str | None:
    """Where the first string (value or key) containing U+0000 is in `value`, or None.

    U+0000 is refused anywhere in a payload: PostgreSQL cannot store it, and the storage refuses it
    on both engines (`csms.storage.database.refuse_nul` says why). Refusing the whole message here,
    before the handler, answers the station with a clear CALLERROR and acknowledges nothing.
    """
    if isinstance(value, str):
        return path or "payload" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return where
            found = nul_path(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _nul_in(payload: Any) -> str | None:
    # orjson writes U+0000 as the escape \u0000: a fast test first (a text holding a backslash
    # and "u0000" passes it too; the walk then looks closer), the walk only when it matches.
    try:
        suspect = b"\\u0000" in orjson.dumps(payload)
    except TypeError:  # what orjson cannot encode (an int beyond 64 bits): walk it all
        suspect = True
    return nul_path(payload) if suspect else None


def validate_request(action: str, payload: Any) -> None:
    """Raise `OcppCallError` with the OCPP-J code that fits what is wrong with the payload."""
    fast = _FAST.get(action) if action in _FAST else _first_fast(action)
    if fast is not None and fast(payload):
        return  # valid and free of U+0000: the common case ends here
    precise_validation(action, payload)


def _first_fast(action: str) -> fastvalidation.FastCheck | None:
    return fast_check(action) if action in STATION_ACTIONS else None


def precise_validation(action: str, payload: Any) -> None:
    """The precise path alone: fastjsonschema, then the NUL walk (what the fast check mirrors)."""
    if action not in STATION_ACTIONS:
        raise errors.OcppCallError(errors.NOT_IMPLEMENTED, f"action {action!r} is not supported")
    validator = precise_validator(action)
    if not isinstance(payload, dict):
        raise errors.OcppCallError(errors.FORMATION_VIOLATION, "payload must be a JSON object")
    try:
        validator(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        code = _RULE_TO_CODE.get(exc.rule or "", errors.PROPERTY_CONSTRAINT_VIOLATION)
        raise errors.OcppCallError(code, exc.message, {"field": exc.name}) from None
    where = _nul_in(payload)
    if where is not None:
        raise errors.OcppCallError(
            errors.PROPERTY_CONSTRAINT_VIOLATION,
            f"{where} contains U+0000 (NUL), which is not accepted",
            {"field": where},
        )
