"""A fast yes/no check of a payload against a (relaxed) OCPP 1.6 JSON schema, generated as Python.

fastjsonschema's generated code builds key sets, error messages' context and Decimal checks for
every message (10.8 µs per MeterValues in the issue's profile). The hot path only needs to know
*whether* a payload is valid: `accepts(schema)` generates one straight-line function per schema
that returns True when the payload is valid and holds no U+0000, False otherwise. A False sends the
payload down the precise path (fastjsonschema, then the NUL walk) for the error code and message,
so the codes are the same by construction; tests/ocpp/test_fast_validation.py checks with generated
payloads that both paths accept and refuse exactly the same ones.

Only the keywords the 1.6 request schemas use are understood (type, properties, required,
additionalProperties, items, minItems, maxItems, maxLength, enum, minimum, maximum); a schema with
any other keyword gets no fast check (`UnsupportedSchema`) and always takes the precise path. The
semantics follow fastjsonschema's (draft 4): an integer may be a float with an integral value, an
array may be a list or a tuple, booleans are neither integers nor numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

FastCheck = Callable[[Any], bool]

_IGNORED = {"title", "$id", "id", "$schema", "description"}
_KNOWN = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "maxLength",
    "enum",
    "minimum",
    "maximum",
    *_IGNORED,
}


class UnsupportedSchema(ValueError):
    """The schema uses a keyword the generator does not check: use the precise path only."""


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self.counter = 0

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const(self, value: Any) -> str:
        name = self.name("_c")
        self.constants[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


def _node(w: _Writer, schema: Any, var: str, depth: int) -> None:
    """Emit statements that `return False` unless `var` satisfies `schema`."""
    if not isinstance(schema, dict):
        raise UnsupportedSchema(f"schema node {schema!r} is not an object")
    unknown = set(schema) - _KNOWN
    if unknown:
        raise UnsupportedSchema(f"keywords {sorted(unknown)} are not supported")
    kind = schema.get("type")
    if kind == "object":
        _object(w, schema, var, depth)
    elif kind == "array":
        _array(w, schema, var, depth)
    elif kind == "string":
        w.emit(depth, f"if type({var}) is not str and not isinstance({var}, str): return False")
        if "enum" not in schema:  # no enum value holds U+0000
            w.emit(depth, f"if '\\x00' in {var}: return False")
        if "maxLength" in schema:
            w.emit(depth, f"if len({var}) > {int(schema['maxLength'])}: return False")
    elif kind == "integer":
        w.emit(depth, f"if type({var}) is not int:")
        w.emit(depth + 1, f"if isinstance({var}, bool): return False")
        w.emit(depth + 1, f"if not isinstance({var}, int):")
        w.emit(depth + 2, f"if not isinstance({var}, float) or not {var}.is_integer():")
        w.emit(depth + 3, "return False")
        _bounds(w, schema, var, depth)
    elif kind == "number":
        w.emit(depth, f"if isinstance({var}, bool) or not isinstance({var}, (int, float)):")
        w.emit(depth + 1, "return False")
        _bounds(w, schema, var, depth)
    elif kind == "boolean":
        w.emit(depth, f"if not isinstance({var}, bool): return False")
    else:
        raise UnsupportedSchema(f"type {kind!r} is not supported")
    if "enum" in schema:
        if kind != "string" or not all(isinstance(v, str) for v in schema["enum"]):
            raise UnsupportedSchema("only enums of strings are supported")
        w.emit(depth, f"if {var} not in {w.const(frozenset(schema['enum']))}: return False")
    for word in ("minItems", "maxItems", "items") if kind != "array" else ():
        if word in schema:
            raise UnsupportedSchema(f"{word} outside an array")
    if kind != "object" and ("properties" in schema or "required" in schema):
        raise UnsupportedSchema("properties outside an object")
    if kind != "string" and "maxLength" in schema:
        raise UnsupportedSchema("maxLength outside a string")


def _bounds(w: _Writer, schema: dict[str, Any], var: str, depth: int) -> None:
    if "minimum" in schema:
        w.emit(depth, f"if {var} < {w.const(schema['minimum'])}: return False")
    if "maximum" in schema:
        w.emit(depth, f"if {var} > {w.const(schema['maximum'])}: return False")


def _object(w: _Writer, schema: dict[str, Any], var: str, depth: int) -> None:
    properties: dict[str, Any] = schema.get("properties", {})
    required: list[str] = list(schema.get("required", []))
    closed = schema.get("additionalProperties", True)
    if closed not in (True, False):
        raise UnsupportedSchema("additionalProperties must be true or false")
    if closed is True:
        # Keys of an open object may hold U+0000: not decided here.
        raise UnsupportedSchema("objects must be closed (additionalProperties false)")
    w.emit(depth, f"if type({var}) is not dict and not isinstance({var}, dict): return False")
    for key in required:
        w.emit(depth, f"if {key!r} not in {var}: return False")
    n_required = len(set(required) & set(properties))
    if len(set(required)) != n_required:
        w.emit(depth, "return False")  # a required key no property allows: nothing is valid
        return
    # closed: every key must be a declared property
    w.emit(depth, f"if not {w.const(frozenset(properties))}.issuperset({var}): return False")
    for key, sub in properties.items():
        item = w.name("v")
        if key in required:
            w.emit(depth, f"{item} = {var}[{key!r}]")
            _node(w, sub, item, depth)
        else:
            w.emit(depth, f"if {key!r} in {var}:")
            w.emit(depth + 1, f"{item} = {var}[{key!r}]")
            _node(w, sub, item, depth + 1)


def _array(w: _Writer, schema: dict[str, Any], var: str, depth: int) -> None:
    w.emit(depth, f"if not isinstance({var}, (list, tuple)): return False")
    if "minItems" in schema:
        w.emit(depth, f"if len({var}) < {int(schema['minItems'])}: return False")
    if "maxItems" in schema:
        w.emit(depth, f"if len({var}) > {int(schema['maxItems'])}: return False")
    if "items" in schema:
        item = w.name("i")
        w.emit(depth, f"for {item} in {var}:")
        _node(w, schema["items"], item, depth + 1)


def source(schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The generated function's source (named `check`) and the constants it refers to."""
    w = _Writer()
    w.emit(0, "def check(data):")
    _node(w, schema, "data", 1)
    w.emit(1, "return True")
    return "\n".join(w.lines) + "\n", w.constants


def accepts(schema: dict[str, Any]) -> FastCheck:
    """A function telling whether a payload is valid under `schema` and free of U+0000."""
    text, constants = source(schema)
    namespace: dict[str, Any] = dict(constants)
    exec(compile(text, "<fastvalidation>", "exec"), namespace)
    check: FastCheck = namespace["check"]
    return check
