"""Licensed features: the licence-key format, `UnlockedFeatures` parsing and feature inclusion.

Alfen sells smart-charging features as licences (guide 2.2). A station accepts writes to keys of a
feature it has no licence for and then ignores them, so the central system checks the station's
`UnlockedFeatures` before configuring a feature and says so. The bit values come from Alfen's
tooling (reference file, marked inferred), so parsing is tolerant: a decimal or `0x` hex bitmask, or
a list of feature names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

LICENSE_KEY_RULE = "six groups of 4 hex digits joined by dots (XXXX.XXXX.XXXX.XXXX.XXXX.XXXX)"
_LICENSE_KEY = re.compile(r"[0-9A-Fa-f]{4}(\.[0-9A-Fa-f]{4}){5}")

# Feature bits seen in Alfen tooling (alfen-ocpp-keys.md, "Licensing").
FEATURE_BITS: dict[str, int] = {
    "SCN": 0x1,
    "SLB": 0x2,
    "ALB": 0x4,
    "32A": 0x10,
    "RFID": 0x100,
    "ISO15118": 0x200,
    "DISPLAY": 0x1000,
    "MOBILE": 0x10000,
    "PAYMENT": 0x100000,
    "METERDATA": 0x1000000,
}
FEATURE_NAMES: dict[str, str] = {
    "SCN": "Smart Charging Network",
    "SLB": "Standard Load Balancing",
    "ALB": "Active Load Balancing",
    "32A": "32 A per socket",
    "RFID": "RFID",
    "ISO15118": "ISO 15118",
    "DISPLAY": "display",
    "MOBILE": "3G/4G",
    "PAYMENT": "payment",
    "METERDATA": "expose smart-meter data",
}
# Guide 2.2: a licence for one feature includes others.
INCLUDES: dict[str, frozenset[str]] = {
    "ALB": frozenset({"SLB"}),
    "SCN": frozenset({"SLB", "ALB"}),
}
# Spellings of feature names seen in lists, mapped to our short codes.
_ALIASES = {
    "SMARTCHARGINGNETWORK": "SCN",
    "STATICLOADBALANCING": "SLB",
    "STANDARDLOADBALANCING": "SLB",
    "LB": "SLB",
    "ACTIVELOADBALANCING": "ALB",
    "32APERSOCKET": "32A",
    "3G4G": "MOBILE",
}


def check_license_key(value: str) -> str | None:
    """None when `value` looks like an Alfen licence key, else the rule it breaks."""
    if _LICENSE_KEY.fullmatch(value.strip()):
        return None
    return f"FeatureLicenseKey must be {LICENSE_KEY_RULE}"


def parse_unlocked_features(value: str | None) -> frozenset[str] | None:
    """Feature codes in an `UnlockedFeatures` value, or None when it cannot be read.

    Accepts a decimal or `0x` bitmask, or names separated by commas, semicolons or spaces. The
    result includes what the licences imply (guide 2.2: SCN includes ALB and SLB).
    """
    if value is None:
        return None
    text = value.strip()
    if text == "":
        return frozenset()
    mask: int | None = None
    if re.fullmatch(r"0[xX][0-9A-Fa-f]+", text):
        mask = int(text, 16)
    elif text.isdigit():
        mask = int(text)
    if mask is not None:
        return with_included(code for code, bit in FEATURE_BITS.items() if mask & bit)
    found: set[str] = set()
    for part in re.split(r"[,;|]+", text):
        # "Active Load Balancing" is one name; "SCN ALB" are two.
        codes = [_code(part)] if _code(part) else [_code(word) for word in part.split()]
        for code in codes:
            if code is None:
                return None
            if code != "NONE":
                found.add(code)
    return with_included(found)


def _code(name: str) -> str | None:
    token = re.sub(r"[^A-Z0-9]", "", name.upper())
    if token in ("", "NONE"):
        return "NONE"
    return token if token in FEATURE_BITS else _ALIASES.get(token)


def with_included(codes: Iterable[str]) -> frozenset[str]:
    """`codes` plus every feature their licences include."""
    result = set(codes)
    for code in list(result):
        result |= INCLUDES.get(code, frozenset())
    return frozenset(result)


def describe(codes: Iterable[str]) -> list[str]:
    """Human names of feature codes, in a stable order."""
    order = {code: i for i, code in enumerate(FEATURE_BITS)}
    ranked = sorted(codes, key=lambda c: (order.get(c, len(order)), c))
    return [FEATURE_NAMES.get(c, c) for c in ranked]
