"""The simulated station's Local Authorization List (OCPP 1.6 §5.15, §5.10), as an Alfen
station keeps it: a version number and the entries, kept across reconnects and reboots.

- GetLocalListVersion: the version; 0 for an empty list, -1 without the
  LocalAuthListManagement feature profile.
- SendLocalList Full replaces the list; Differential applies its entries (an entry without
  idTagInfo removes the tag) and is refused with VersionMismatch when its version is not
  newer than the list's. More entries than SendLocalListMaxLength or a resulting list longer
  than LocalAuthListMaxLength fail (`Failed`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from csms.sim.configuration import StationConfiguration

FEATURE = "LocalAuthListManagement"


@dataclass
class LocalList:
    version: int = 0
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    updates: list[tuple[str, int]] = field(default_factory=list)
    """(updateType, listVersion) of every accepted SendLocalList, oldest first."""

    @staticmethod
    def supported(config: StationConfiguration) -> bool:
        return FEATURE in config.value("SupportedFeatureProfiles").split(",")

    def current_version(self, config: StationConfiguration) -> int:
        return self.version if self.supported(config) else -1

    def status(self, id_tag: str) -> str | None:
        """The tag's status in the list (None: not in it)."""
        entry = self.entries.get(id_tag)
        return None if entry is None else str(entry.get("status"))

    def apply(
        self,
        config: StationConfiguration,
        version: int,
        update_type: str,
        entries: list[dict[str, Any]],
    ) -> str:
        """Apply a SendLocalList; returns its answer's status."""
        if not self.supported(config):
            return "NotSupported"
        if len(entries) > config.integer("SendLocalListMaxLength"):
            return "Failed"
        if update_type == "Full":
            new: dict[str, dict[str, Any]] = {}
        else:
            if version <= self.version:
                return "VersionMismatch"
            new = dict(self.entries)
        for entry in entries:
            info = entry.get("idTagInfo") or entry.get("id_tag_info")
            tag = entry.get("idTag") or entry.get("id_tag")
            if not isinstance(tag, str):
                return "Failed"
            if info is None:
                new.pop(tag, None)
            else:
                new[tag] = dict(info)
        if len(new) > config.integer("LocalAuthListMaxLength"):
            return "Failed"
        self.entries = new
        self.version = version
        self.updates.append((update_type, version))
        return "Accepted"
