"""Whether a station may be controlled through its Modbus slave, judged from a configuration
snapshot (pure), and the changes that would make it so.

Alfen's EMS mode needs the Active Load Balancing licence, ALB on, the station's load-balancing data
source set to the Energy Management System (`MbsSlaveTCPIP` On) and the EMS allowed to write max
currents per socket (`MbsSlaveTCPIPMode` = Socket). Without them the station refuses, or ignores,
writes of register 1210. Keys are changed through the configuration workflow (they need a reboot,
so the reboot policy applies); a missing licence is bought, not configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from csms.config.features import parse_unlocked_features

# key → (the value EMS control needs, why)
REQUIRED: dict[str, tuple[str, str]] = {
    "Active-LoadBalancing": ("On", "Active Load Balancing must be on"),
    "MbsSlaveTCPIP": ("On", "the data source must be the energy management system"),
    "MbsSlaveTCPIPMode": ("Socket", "the EMS must be allowed to write max currents per socket"),
}


@dataclass(frozen=True, slots=True)
class Missing:
    """One prerequisite that does not hold: the key to change, its value now and the one needed
    (`needed` None: not a configuration change — the licence)."""

    key: str
    value: str | None
    needed: str | None
    reason: str

    def describe(self) -> str:
        if self.needed is None:
            return self.reason
        return f"{self.reason}: set {self.key} to {self.needed} (now {self.value or 'unset'})"


def modbus_missing(values: Mapping[str, str | None]) -> list[Missing]:
    """What keeps the station from taking limits over Modbus ([] = ready)."""
    out: list[Missing] = []
    features = parse_unlocked_features(values.get("UnlockedFeatures"))
    if features is None or "ALB" not in features:
        out.append(
            Missing(
                "FeatureLicenseKey",
                values.get("UnlockedFeatures"),
                None,
                "the Active Load Balancing licence is missing (UnlockedFeatures "
                f"{values.get('UnlockedFeatures') or 'unknown'}): add it with "
                "PUT /api/v1/stations/{id}/license",
            )
        )
    for key, (needed, reason) in REQUIRED.items():
        value = values.get(key)
        if (value or "").strip().lower() != needed.lower():
            out.append(Missing(key, value, needed, reason))
    return out


def blocking_reason(values: Mapping[str, str | None] | None) -> str | None:
    """One line saying why Modbus control is refused, or None when the snapshot allows it."""
    if values is None:
        return "waiting for the station's configuration snapshot"
    missing = modbus_missing(values)
    if not missing:
        return None
    return "Modbus control refused: " + "; ".join(m.describe() for m in missing)


def offered_changes(values: Mapping[str, str | None]) -> dict[str, str]:
    """The key changes that would make the station controllable (not the licence)."""
    return {m.key: m.needed for m in modbus_missing(values) if m.needed is not None}
