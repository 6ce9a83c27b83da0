"""The simulated station's configuration keys: Alfen keys and standard OCPP 1.6 keys.

Behaviour (as the real station, `/work/shared/reference/alfen-ocpp-keys.md`):
- unknown key → `NotSupported`; read-only key → `Rejected`; a value that fails the key's check →
  `Rejected`; a key that needs a reboot → `RebootRequired`, and the new value is *pending*: the
  station keeps reporting and using the old value until it reboots (`reboot()`).
- `FeatureLicenseKey` (six dot-separated groups of 4 hex digits) needs a reboot; after it, a key
  made by `make_license_key(features)` unlocks those feature bits in `UnlockedFeatures`
  (read-only, reported as a hex bitmask like `0x00000007`). Licences add up. A well-formed key
  with a wrong checksum is stored but unlocks nothing.
- Writes to a feature's keys without that feature unlocked (SCN-* without SCN, ALB keys without
  ALB, Static-LoadBalancing without SLB) get the normal answer but are ignored: the value does
  not change.
- GetConfiguration without keys returns every key; with a key list only the first
  `GetConfigurationMaxKeys` requested keys are answered (the rest are dropped silently).
  A `whole_list` station (other firmware stacks, and the load generator's station in
  benchmarks/light_station.py) lists no `GetConfigurationMaxKeys` and answers every
  GetConfiguration with its whole key list, whatever keys were asked.
"""

from __future__ import annotations

import binascii
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from csms.sim.phases import PHASE_ROTATIONS

# Feature bits of UnlockedFeatures (Alfen tooling, see alfen-ocpp-keys.md).
FEATURE_SCN = 0x1
FEATURE_SLB = 0x2
FEATURE_ALB = 0x4
FEATURE_32A = 0x10
FEATURE_RFID = 0x100
# Inclusion (guide 2.2): ALB includes SLB; SCN includes SLB and ALB.
_INCLUDES = {FEATURE_ALB: FEATURE_SLB, FEATURE_SCN: FEATURE_SLB | FEATURE_ALB}

LICENSE_PATTERN = re.compile(r"^[0-9A-Fa-f]{4}(\.[0-9A-Fa-f]{4}){5}$")
MEASURANDS = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Voltage",
    "Temperature",
    "Current.Offered",
    "Frequency",
    "Power.Factor",
    "SoC",
)
DEFAULT_SAMPLED = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Current.Offered"


def with_included(features: int) -> int:
    """Feature bits plus the features they include."""
    for bit, included in _INCLUDES.items():
        if features & bit:
            features |= included
    return features


def make_license_key(features: int) -> str:
    """A licence key the simulator accepts, unlocking `features` (a bitmask) after a reboot.

    Groups 1–2: the bitmask; groups 3–5: a digest of it (so keys look random); group 6: CRC-16 of
    the first five groups.
    """
    if not 0 <= features <= 0xFFFFFFFF:
        raise ValueError("features must fit in 32 bits")
    digest = hashlib.sha256(f"alfen-sim:{features}".encode()).hexdigest()[:12].upper()
    body = (
        f"{features >> 16:04X}.{features & 0xFFFF:04X}.{digest[0:4]}.{digest[4:8]}.{digest[8:12]}"
    )
    return f"{body}.{binascii.crc_hqx(body.encode(), 0):04X}"


def parse_license_key(key: str) -> int | None:
    """The feature bitmask a simulator licence key unlocks, or None when it is not valid."""
    key = key.strip().upper()
    if not LICENSE_PATTERN.match(key):
        return None
    groups = key.split(".")
    features = int(groups[0], 16) << 16 | int(groups[1], 16)
    return features if make_license_key(features) == key else None


# -- value checks -------------------------------------------------------------------------------

Check = Callable[[str], bool]


def _int(lo: int, hi: int) -> Check:
    def check(value: str) -> bool:
        try:
            number = int(value.strip())
        except ValueError:
            return False
        return lo <= number <= hi

    return check


def _float(lo: float, hi: float) -> Check:
    def check(value: str) -> bool:
        try:
            number = float(value.strip())
        except ValueError:
            return False
        return math.isfinite(number) and lo <= number <= hi

    return check


def _choice(*choices: str, case: bool = True) -> Check:
    allowed = set(choices) if case else {c.lower() for c in choices}

    def check(value: str) -> bool:
        return (value if case else value.lower()) in allowed

    return check


_BOOL = _choice("true", "false", case=False)


def _csl(allowed: Iterable[str], max_items: int) -> Check:
    known = set(allowed)

    def check(value: str) -> bool:
        items = [item.strip() for item in value.split(",")] if value.strip() else []
        return len(items) <= max_items and all(item in known for item in items)

    return check


def _regex(pattern: str) -> Check:
    compiled = re.compile(pattern)
    return lambda value: compiled.fullmatch(value) is not None


_IPV4 = _regex(r"((25[0-5]|2[0-4]\d|[01]?\d?\d)\.){3}(25[0-5]|2[0-4]\d|[01]?\d?\d)")


@dataclass(frozen=True, slots=True)
class KeyDef:
    """One configuration key of the simulated station."""

    name: str
    default: str
    check: Check | None = None  # None: read-only
    reboot: bool = False
    feature: int = 0  # feature bit that must be unlocked for a write to take effect
    write_only: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def readonly(self) -> bool:
        return self.check is None


def _keys(sockets: int) -> list[KeyDef]:
    amps_64, amps_32 = _float(1, 64), _float(6, 32)
    onoff, truefalse = _choice("On", "Off"), _choice("True", "False")
    k = KeyDef
    alb, scn = FEATURE_ALB, FEATURE_SCN
    keys = [
        # Alfen licensing and power settings
        k("FeatureLicenseKey", "0000.0000.0000.0000.0000.0000",
          lambda v: LICENSE_PATTERN.match(v) is not None, reboot=True),
        k("UnlockedFeatures", "0x00000000"),
        k("Station-MaxCurrent", "32.0", amps_64),
        k("Connector1-MaxCurrent", "32.0", amps_32),
        *([k("Connector2-MaxCurrent", "32.0", amps_32)] if sockets == 2 else []),
        k("Chameleon-MinCurrent", "14.0", amps_32),
        k("Phase-Connected", "L1L2L3", _choice(*PHASE_ROTATIONS), reboot=True),
        # Standard and Active Load Balancing
        k("Static-LoadBalancing", "Off", onoff, feature=FEATURE_SLB),
        k("Active-LoadBalancing", "Off", onoff, reboot=True, feature=alb),
        k("SmartChargingMode", "None", _choice("None", "OCPP1.5+"), reboot=True),
        k("SmartMeter-MaxCurrent", "25.0", _float(10, 5000), reboot=True, feature=alb),
        k("SmartMeterIncludesCharger", "True", truefalse, reboot=True, feature=alb),
        k("Safe-MaxCurrent", "6.0", _float(6, 100), reboot=True, feature=alb),
        k("ALB-ProtocolSelection", "Modbus TCP/IP",
          _choice("DSMR4.x/SMR5.0 (P1)", "Modbus TCP/IP"), reboot=True, feature=alb),
        k("DirectExternalSuspendSignal", "DSMR P1",
          _choice("DSMR P1", "Suspend when an external circuit is closed",
                  "Suspend when an external circuit is opened"), reboot=True),
        k("MBTCPSmart-IsEnabled", "False", truefalse, reboot=True, feature=alb),
        k("MBTCPSmart-SlaveMeterModel", "Socomec", _choice("None", "Socomec"), reboot=True,
          feature=alb, aliases=("MBTCP-Smart-SlaveMeterModel",)),
        k("MBTCPSmart-ConnectionType", "TCP master",
          _choice("TCP master", "RTU master", "UDP master"), reboot=True, feature=alb),
        k("MBTCPSmart-IPAddress", "192.168.000.005", _IPV4, reboot=True, feature=alb),
        k("MBTCPSmart-SlaveUnitID", "5", _int(0, 65535), reboot=True, feature=alb),
        k("MbsSlaveTCPIP", "Off", onoff, reboot=True, feature=alb),
        k("MbsSlaveTCPIPValidityTime", "60", _int(1, 86400), reboot=True, feature=alb),
        k("MbsSlaveTCPIPMode", "Off", _choice("Off", "Socket", "SCN"), reboot=True, feature=alb),
        # Smart Charging Network
        k("SCN-IsEnabled", "False", truefalse, reboot=True, feature=scn),
        k("SCN-NetworkName", "", _regex(r"[A-Z0-9]{0,7}"), reboot=True, feature=scn),
        k("SCN-SocketID", "0", _int(0, 128), reboot=True, feature=scn),
        k("SCN-SocketCount", "1", _int(1, 128), reboot=True, feature=scn),
        k("SCN-TotalStaticCurrent", "32.0", _float(1, 5000), reboot=True, feature=scn),
        k("SCN-SocketSafeCurrent", "6.0", _float(6, 32), reboot=True, feature=scn),
        k("SCN-TotalSafeCurrent", "6.0", _float(1, 5000), reboot=True, feature=scn),
        k("SCN-AlternatingPeriod", "900", _int(60, 36000), reboot=True, feature=scn),
        k("SCN-PhaseMapping-1", "4", _int(1, 9), reboot=True, feature=scn),
        k("SCN-PhaseMapping-2", "4" if sockets == 2 else "0", _int(0, 9), reboot=True,
          feature=scn),
        # Standard OCPP 1.6 core keys
        k("AllowOfflineTxForUnknownId", "false", _BOOL),
        k("AuthorizationCacheEnabled", "false", _BOOL),
        k("AuthorizeRemoteTxRequests", "false", _BOOL),
        k("ClockAlignedDataInterval", "0", _int(0, 86400)),
        k("ConnectionTimeOut", "60", _int(0, 3600)),
        k("ConnectorPhaseRotation", "0.RST,1.RST" + (",2.RST" if sockets == 2 else ""),
          _regex(r"(\d\.(RST|RTS|SRT|STR|TRS|TSR|NotApplicable|Unknown))"
                 r"(,\d\.(RST|RTS|SRT|STR|TRS|TSR|NotApplicable|Unknown))*")),
        k("GetConfigurationMaxKeys", "35"),
        k("HeartbeatInterval", "900", _int(30, 86400)),
        k("LocalAuthorizeOffline", "true", _BOOL),
        k("LocalPreAuthorize", "false", _BOOL),
        k("MeterValuesAlignedData", "Energy.Active.Import.Register", _csl(MEASURANDS, 9)),
        k("MeterValuesAlignedDataMaxLength", "9"),
        k("MeterValuesSampledData", DEFAULT_SAMPLED, _csl(MEASURANDS, 9)),
        k("MeterValuesSampledDataMaxLength", "9"),
        k("MeterValueSampleInterval", "900", _int(0, 86400)),
        k("NumberOfConnectors", str(sockets)),
        k("ResetRetries", "3", _int(0, 10)),
        k("StopTransactionOnEVSideDisconnect", "true", _BOOL),
        k("StopTransactionOnInvalidId", "true", _BOOL),
        k("StopTxnAlignedData", "", _csl(MEASURANDS, 9)),
        k("StopTxnSampledData", "", _csl(MEASURANDS, 9)),
        k("SupportedFeatureProfiles",
          "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,"
          "RemoteTrigger"),
        k("TransactionMessageAttempts", "3", _int(0, 100)),
        k("TransactionMessageRetryInterval", "60", _int(0, 86400)),
        k("UnlockConnectorOnEVSideDisconnect", "true", _BOOL),
        k("WebSocketPingInterval", "120", _int(0, 86400)),
        k("LocalAuthListEnabled", "true", _BOOL),
        k("LocalAuthListMaxLength", "100"),
        k("SendLocalListMaxLength", "100"),
        # Smart charging (§9.4); firmware-dependent values, overridable per station
        k("ChargeProfileMaxStackLevel", "15"),
        # "Power" alone: a watt-only station (rejects profiles in A, answers −1 when asked for a
        # composite schedule in A), like the MicroOcpp firmware stack.
        k("ChargingScheduleAllowedChargingRateUnit", "Current",
          _csl(("Current", "Power"), 2)),
        k("ChargingScheduleMaxPeriods", "100"),
        k("ConnectorSwitch3to1PhaseSupported", "false"),
        k("MaxChargingProfilesInstalled", "45"),
        # Security extension: the Basic-auth password, write-only
        k("AuthorizationKey", "", _regex(r"[\x21-\x7e]{16,40}"), write_only=True),
        k("OCPPStackVersion", "4.7.0"),
    ]  # fmt: skip
    return keys


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One entry of a GetConfiguration answer."""

    key: str
    readonly: bool
    value: str | None

    def to_ocpp(self) -> dict[str, Any]:
        item: dict[str, Any] = {"key": self.key, "readonly": self.readonly}
        if self.value is not None:
            item["value"] = self.value
        return item


class StationConfiguration:
    """Values, pending (after-reboot) values and licensed features of one station.

    `overrides` set initial values, read-only keys included (e.g. `ChargeProfileMaxStackLevel`
    = "5"); an unknown key or an invalid value for a writable key raises ValueError.
    """

    def __init__(
        self,
        sockets: int = 1,
        overrides: Mapping[str, str] | None = None,
        unlocked_features: int = 0,
        whole_list: bool = False,
    ) -> None:
        self.whole_list = whole_list
        hidden = {"GetConfigurationMaxKeys"} if whole_list else set()
        self._defs = {d.name: d for d in _keys(sockets) if d.name not in hidden}
        self._aliases = {a: d.name for d in self._defs.values() for a in d.aliases}
        self._values = {name: d.default for name, d in self._defs.items()}
        self._pending: dict[str, str] = {}
        self._features = 0
        self._set_features(with_included(unlocked_features))
        for key, value in (overrides or {}).items():
            definition = self.definition(key)
            if definition is None:
                raise ValueError(f"configuration key {key!r} is not known to the simulator")
            if definition.check is not None and not definition.check(value):
                raise ValueError(f"configuration value {value!r} is not valid for {key}")
            self._values[definition.name] = value

    def definition(self, key: str) -> KeyDef | None:
        """The key's definition (either spelling of aliased keys), or None when unknown."""
        return self._defs.get(self._aliases.get(key, key))

    @property
    def unlocked_features(self) -> int:
        return self._features

    @property
    def pending(self) -> dict[str, str]:
        """Values accepted with RebootRequired, applied at the next reboot."""
        return dict(self._pending)

    def _set_features(self, features: int) -> None:
        self._features = features
        self._values["UnlockedFeatures"] = f"0x{features:08X}"

    def value(self, key: str) -> str:
        """The value in effect (not a pending one)."""
        definition = self.definition(key)
        if definition is None:
            raise KeyError(key)
        return self._values[definition.name]

    def number(self, key: str) -> float:
        return float(self.value(key))

    def integer(self, key: str) -> int:
        return int(self.value(key))

    def flag(self, key: str) -> bool:
        return self.value(key).lower() in ("true", "on")

    def set_internal(self, key: str, value: str) -> None:
        """Set a value the station itself decides (e.g. HeartbeatInterval from BootNotification)."""
        definition = self.definition(key)
        if definition is None:
            raise KeyError(key)
        self._values[definition.name] = value

    def get(self, keys: list[str] | None) -> tuple[list[KeyValue], list[str]]:
        """GetConfiguration: (known entries, unknown keys)."""
        if not keys or self.whole_list:
            names: Iterable[str] = self._defs
        else:
            names = keys[: self.integer("GetConfigurationMaxKeys")]
        known: list[KeyValue] = []
        unknown: list[str] = []
        for name in names:
            definition = self.definition(name)
            if definition is None:
                unknown.append(name)
                continue
            value = None if definition.write_only else self._values[definition.name]
            known.append(KeyValue(name, definition.readonly, value))
        return known, unknown

    def change(self, key: str, value: str) -> str:
        """ChangeConfiguration: Accepted, RebootRequired, Rejected or NotSupported."""
        definition = self.definition(key)
        if definition is None:
            return "NotSupported"
        if definition.check is None or not definition.check(value):
            return "Rejected"
        licensed = not definition.feature or self._features & definition.feature
        if licensed:
            if definition.reboot:
                self._pending[definition.name] = value
            else:
                self._values[definition.name] = value
        return "RebootRequired" if definition.reboot else "Accepted"

    def reboot(self) -> None:
        """Apply pending values; a valid new licence key unlocks its features."""
        pending, self._pending = self._pending, {}
        self._values.update(pending)
        if "FeatureLicenseKey" in pending:
            features = parse_license_key(pending["FeatureLicenseKey"])
            if features is not None:
                self._set_features(with_included(self._features | features))
