"""Validating and normalising configuration values against the key catalog, before anything is sent.

`check_value` turns what a user typed into the exact string we send (canonical spelling of enums
and booleans, Alfen's `20.0` float notation, zero-padded IPv4) or raises `InvalidValue` whose
message names the rule that was broken. `values_equal` compares a desired value with what a
station reports, tolerating harmless differences (`32` vs `32.0`, `true` vs `True`), so only keys
that really differ are rewritten.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from csms.config.catalog import MEASURANDS, KeySpec, lookup
from csms.config.features import check_license_key, parse_unlocked_features

# A measurand in a CSL may carry a phase suffix on some stations (e.g. Current.Import.L1).
_PHASE_SUFFIX = re.compile(r"\.(L1|L2|L3|N|L1-N|L2-N|L3-N|L1-L2|L2-L3|L3-L1)$")


class InvalidValue(ValueError):
    """A value breaks a catalog rule; the message names the key, the value and the rule."""

    def __init__(self, key: str, value: str, rule: str) -> None:
        super().__init__(f"{key}: {value!r} refused: {rule}")
        self.key = key
        self.value = value
        self.rule = rule


@dataclass(frozen=True, slots=True)
class CheckedValue:
    """A value ready to send: canonical key name, normalised value, catalog entry, warnings."""

    key: str
    value: str
    spec: KeySpec | None
    warnings: tuple[str, ...] = ()


def check_value(key: str, value: str, *, force: bool = False) -> CheckedValue:
    """Validate `value` for `key` and return what to send.

    Unknown keys are refused unless `force`; with `force` a known key's value is sent as given
    (a station may accept more than Alfen's tooling) — but read-only keys are always refused.
    """
    spec = lookup(key)
    if spec is None:
        if not force:
            raise InvalidValue(
                key, value, "unknown key (not in the catalog); write it with force to send anyway"
            )
        return CheckedValue(key, value, None, ("unknown key written with force",))
    if spec.read_only:
        raise InvalidValue(key, value, f"{spec.name} is read-only")
    if force:
        try:
            normalised = normalise(spec, value, key)
        except InvalidValue as exc:
            return CheckedValue(key, value, spec, (f"validation skipped (force): {exc.rule}",))
        return CheckedValue(key, normalised, spec)
    return CheckedValue(key, normalise(spec, value, key), spec)


def normalise(spec: KeySpec, value: str, key: str | None = None) -> str:
    """The canonical form of `value` for `spec`; raises `InvalidValue` naming the broken rule."""
    name = key or spec.name
    text = value.strip()
    where = f" ({spec.source})"
    if spec.kind in ("bool", "truefalse"):
        low = text.lower()
        if low not in ("true", "false"):
            raise InvalidValue(name, value, "must be true or false" + where)
        return low if spec.kind == "bool" else low.capitalize()
    if spec.kind in ("onoff", "enum"):
        for choice in spec.choices:
            if text.lower() == choice.lower():
                return choice
        raise InvalidValue(name, value, f"must be one of {', '.join(spec.choices)}" + where)
    if spec.kind == "int":
        if not re.fullmatch(r"[+-]?\d+", text):
            raise InvalidValue(name, value, "must be a whole number" + where)
        _check_range(spec, name, value, int(text))
        return str(int(text))
    if spec.kind == "float":
        number = _float(text)
        if number is None:
            raise InvalidValue(name, value, "must be a number (notation 20.0)" + where)
        _check_range(spec, name, value, number)
        return str(number)
    if spec.kind == "string":
        if spec.pattern and not re.fullmatch(spec.pattern, text):
            raise InvalidValue(name, value, f"must be {spec.pattern_rule or spec.pattern}" + where)
        return text
    if spec.kind == "csl":
        return _normalise_csl(spec, name, value, text)
    if spec.kind == "license":
        rule = check_license_key(text)
        if rule:
            raise InvalidValue(name, value, rule + where)
        return text
    if spec.kind == "ipv4":
        octets = text.split(".")
        if len(octets) != 4 or not all(o.isdigit() and int(o) <= 255 for o in octets):
            raise InvalidValue(name, value, "must be an IPv4 address like 192.168.0.5" + where)
        return ".".join(f"{int(o):03d}" for o in octets)
    # features: read-only, never written; keep the value as it is.
    return text


def _float(text: str) -> float | None:
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def _check_range(spec: KeySpec, name: str, value: str, number: float) -> None:
    low, high = spec.minimum, spec.maximum
    if (low is not None and number < low) or (high is not None and number > high):
        raise InvalidValue(name, value, f"must be within {spec.range_text} ({spec.source})")


def _normalise_csl(spec: KeySpec, name: str, value: str, text: str) -> str:
    items = [item.strip() for item in text.split(",")] if text else []
    if any(item == "" for item in items):
        raise InvalidValue(name, value, "comma-separated list has an empty item")
    if spec.max_items is not None and len(items) > spec.max_items:
        raise InvalidValue(name, value, f"at most {spec.max_items} items ({spec.source})")
    out = []
    for item in items:
        if spec.pattern and not re.fullmatch(spec.pattern, item):
            raise InvalidValue(name, value, f"must be {spec.pattern_rule}")
        if spec.choices:
            base = _PHASE_SUFFIX.sub("", item) if spec.choices is MEASURANDS else item
            canonical = next((c for c in spec.choices if c.lower() == base.lower()), None)
            if canonical is None:
                allowed = "OCPP 1.6 measurands" if spec.choices is MEASURANDS else spec.choices
                raise InvalidValue(name, value, f"{item!r} is not one of {allowed}")
            item = canonical + item[len(base) :]
        out.append(item)
    return ",".join(out)


def values_equal(key: str, desired: str | None, actual: str | None) -> bool:
    """Whether a station reporting `actual` already has `desired` (numbers and case tolerant)."""
    if desired is None or actual is None:
        return desired is actual
    spec = lookup(key)
    if spec is not None:
        try:
            return normalise(spec, desired).lower() == normalise(spec, actual).lower()
        except InvalidValue:
            pass
        if spec.kind in ("int", "float"):
            a, b = _float(desired.strip()), _float(actual.strip())
            if a is not None and b is not None:
                return math.isclose(a, b, abs_tol=1e-9)
    return desired.strip() == actual.strip()


def licence_warnings(spec: KeySpec | None, value: str, unlocked: str | None) -> list[str]:
    """Warnings for a write to a feature the station (per `UnlockedFeatures`) has no licence for.

    The station accepts such writes and ignores them, so the user must hear it from us.
    """
    if spec is None:
        return []
    features = parse_unlocked_features(unlocked)
    warnings = []
    if spec.feature and features is not None and spec.feature not in features:
        warnings.append(
            f"{spec.name} belongs to feature {spec.feature}, which this station has no licence "
            "for: the station will accept the value and ignore it"
        )
    elif spec.feature and features is None and unlocked is not None:
        warnings.append(
            f"cannot read UnlockedFeatures {unlocked!r} to check the {spec.feature} licence"
        )
    if spec.name.startswith("Connector") and spec.name.endswith("-MaxCurrent"):
        number = _float(value.strip())
        if number is not None and number > 16 and features is not None and "32A" not in features:
            warnings.append("more than 16 A per socket may need the 32 A licence")
    return warnings
