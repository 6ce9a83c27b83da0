"""The key catalog: every Alfen and standard OCPP 1.6 configuration key we know, as data.

Each entry says how a value looks (kind, range, choices), its unit, whether it is read-only, whether
the station needs a reboot before it takes effect, which licensed feature it belongs to, and one
line of description. Values are validated against it (`csms.config.validation`) before anything is
sent to a station. Sources: `/work/shared/reference/alfen-ocpp-keys.md`, the Alfen smart charging
guide (table 2.1.1, 4.3.4, 5.3.3.x, 6.3.3.4) and OCPP 1.6 chapter 9. Ranges marked "tooling" are
what Alfen's installer apps enforce; a station may accept more, which is what `force` is for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal[
    "bool",  # true/false (standard OCPP keys)
    "truefalse",  # True/False (Alfen keys)
    "onoff",  # On/Off (Alfen keys)
    "int",
    "float",  # Alfen notation 20.0
    "enum",
    "string",
    "csl",  # comma-separated list
    "license",  # six dot-separated groups of four hex digits
    "ipv4",
    "features",  # UnlockedFeatures, read-only
]

# Licensed feature a key belongs to (see csms.config.features).
Feature = Literal["SCN", "ALB", "SLB"]


@dataclass(frozen=True, slots=True)
class KeySpec:
    """What the catalog knows about one configuration key."""

    name: str
    kind: Kind
    description: str
    source: str
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None  # regular expression for strings
    pattern_rule: str | None = None  # the pattern in words, for error messages
    max_items: int | None = None  # csl
    read_only: bool = False
    write_only: bool = False
    reboot: bool = False
    feature: Feature | None = None
    aliases: tuple[str, ...] = ()

    @property
    def range_text(self) -> str | None:
        """The allowed range in words, or None when the key has no numeric range."""
        if self.minimum is None and self.maximum is None:
            return None
        unit = f" {self.unit}" if self.unit else ""
        if self.minimum is not None and self.maximum is not None:
            return f"{_num(self.minimum)}–{_num(self.maximum)}{unit}"
        if self.minimum is not None:
            return f"≥ {_num(self.minimum)}{unit}"
        return f"≤ {_num(self.maximum or 0)}{unit}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


PHASE_SEQUENCES = ("L1", "L2", "L3", "L1L2L3", "L1L3L2", "L2L1L3", "L2L3L1", "L3L1L2", "L3L2L1")
# SCN-PhaseMapping codes (guide 6.3.3.4): 1=L1 … 9=L3L2L1; 0 = no socket (mapping 2 only).
PHASE_CODES = {name: code for code, name in enumerate(PHASE_SEQUENCES, start=1)}

MEASURANDS = (
    "Current.Export",
    "Current.Import",
    "Current.Offered",
    "Energy.Active.Export.Register",
    "Energy.Active.Import.Register",
    "Energy.Reactive.Export.Register",
    "Energy.Reactive.Import.Register",
    "Energy.Active.Export.Interval",
    "Energy.Active.Import.Interval",
    "Energy.Reactive.Export.Interval",
    "Energy.Reactive.Import.Interval",
    "Frequency",
    "Power.Active.Export",
    "Power.Active.Import",
    "Power.Factor",
    "Power.Offered",
    "Power.Reactive.Export",
    "Power.Reactive.Import",
    "RPM",
    "SoC",
    "Temperature",
    "Voltage",
)
FEATURE_PROFILES = (
    "Core",
    "FirmwareManagement",
    "LocalAuthListManagement",
    "Reservation",
    "SmartCharging",
    "RemoteTrigger",
)

_G = "Alfen guide"
_R = "alfen-ocpp-keys.md"
_O = "OCPP 1.6 §9.1"
_OSC = "OCPP 1.6 §9.4"
_OLL = "OCPP 1.6 §9.2"
_ORS = "OCPP 1.6 §9.3"
_OSEC = "OCPP 1.6 security whitepaper"


def _alfen() -> list[KeySpec]:
    amps = "A"
    return [
        # Licensing (guide 2.2)
        KeySpec("FeatureLicenseKey", "license", "licence key from Alfen; unlocks after a reboot",
                f"{_G} 2.2.2", reboot=True),
        KeySpec("UnlockedFeatures", "features", "features unlocked by the licence (bitmask/list)",
                f"{_G} 2.1.1", read_only=True),
        # Power settings (guide 2.1.1, 4.3.4)
        KeySpec("Station-MaxCurrent", "float", "maximum current of the whole station",
                f"{_G} 4.3.4; {_R}", unit=amps, minimum=1, maximum=64),
        KeySpec("Connector1-MaxCurrent", "float", "maximum current of socket 1",
                f"{_G} 4.3.4; {_R}", unit=amps, minimum=6, maximum=32),
        KeySpec("Connector2-MaxCurrent", "float", "maximum current of socket 2",
                f"{_G} 4.3.4; {_R}", unit=amps, minimum=6, maximum=32),
        KeySpec("Connector1.2-MaxCurrent", "float", "maximum current of socket 1, second setting",
                f"{_G} 2.1.1", unit=amps, minimum=6, maximum=32),
        KeySpec("Connector2.2-MaxCurrent", "float", "maximum current of socket 2, second setting",
                f"{_G} 2.1.1", unit=amps, minimum=6, maximum=32),
        KeySpec("Chameleon-MinCurrent", "float", "probing current at session start (14 A advised)",
                f"{_G} 2.1.1; {_R}", unit=amps, minimum=6, maximum=32),
        KeySpec("Phase-Connected", "enum", "phase sequence of the station's feeder",
                f"{_G} 5.3.3.4", choices=PHASE_SEQUENCES, reboot=True),
        # Standard and Active Load Balancing (guide 4.3.4, 5.3.3.4–5.3.3.7)
        KeySpec("Static-LoadBalancing", "onoff", "Standard Load Balancing between the sockets",
                f"{_G} 4.3.4", choices=("On", "Off"), feature="SLB"),
        KeySpec("Active-LoadBalancing", "onoff", "Active Load Balancing from a meter or EMS",
                f"{_G} 5.3.3.4", choices=("On", "Off"), reboot=True, feature="ALB"),
        KeySpec("SmartChargingMode", "enum", "OCPP 1.5 smart charging type; None for OCPP 1.6",
                f"{_G} 5.3.3.4", choices=("None", "OCPP1.5+"), reboot=True),
        KeySpec("SmartMeter-MaxCurrent", "float", "installation (grid connection) limit ALB keeps",
                f"{_G} 5.3.3.4; {_R}", unit=amps, minimum=10, maximum=5000, reboot=True,
                feature="ALB"),
        KeySpec("SmartMeterIncludesCharger", "truefalse",
                "whether the meter reading includes the station's own EV current",
                f"{_G} 5.3.3.4", choices=("True", "False"), reboot=True, feature="ALB"),
        KeySpec("Safe-MaxCurrent", "float", "fallback current when the meter or EMS is lost",
                f"{_G} 5.3.3.4; {_R}", unit=amps, minimum=6, maximum=100, reboot=True,
                feature="ALB"),
        KeySpec("ALB-ProtocolSelection", "enum", "how ALB reads the grid meter",
                f"{_G} 5.3.3.5", choices=("DSMR4.x/SMR5.0 (P1)", "Modbus TCP/IP"), reboot=True,
                feature="ALB"),
        KeySpec("DirectExternalSuspendSignal", "enum",
                "RJ11 port: P1 meter, or suspend on an external contact",
                f"{_G} 5.3.3.5",
                choices=("DSMR P1", "Suspend when an external circuit is closed",
                         "Suspend when an external circuit is opened"), reboot=True),
        KeySpec("MBTCPSmart-IsEnabled", "truefalse", "read a Modbus TCP/IP grid meter",
                f"{_G} 5.3.3.6", choices=("True", "False"), reboot=True, feature="ALB"),
        KeySpec("MBTCPSmart-SlaveMeterModel", "enum", "Modbus meter preset (only Socomec)",
                f"{_G} 5.3.3.6", choices=("None", "Socomec"), reboot=True, feature="ALB",
                aliases=("MBTCP-Smart-SlaveMeterModel",)),
        KeySpec("MBTCPSmart-ConnectionType", "enum", "Modbus connection type to the meter",
                f"{_G} 5.3.3.6", choices=("TCP master", "RTU master", "UDP master"), reboot=True,
                feature="ALB"),
        KeySpec("MBTCPSmart-IPAddress", "ipv4", "IPv4 address of the Modbus meter (zero-padded)",
                f"{_G} 5.3.3.6", reboot=True, feature="ALB"),
        KeySpec("MBTCPSmart-SlaveUnitID", "int", "Modbus unit id of the meter",
                f"{_G} 5.3.3.6", minimum=0, maximum=65535, reboot=True, feature="ALB"),
        KeySpec("MbsSlaveTCPIP", "onoff", "let an EMS write limits over the station's Modbus slave",
                f"{_G} 5.3.3.7", choices=("On", "Off"), reboot=True, feature="ALB"),
        KeySpec("MbsSlaveTCPIPValidityTime", "int", "EMS must write within this or safe current",
                f"{_G} 5.3.3.7", unit="s", minimum=1, maximum=86400, reboot=True, feature="ALB"),
        KeySpec("MbsSlaveTCPIPMode", "enum", "EMS controls each socket or the whole SCN",
                f"{_G} 5.3.3.7", choices=("Off", "Socket", "SCN"), reboot=True, feature="ALB"),
        # Smart Charging Network (guide 6.3.3.4)
        KeySpec("SCN-IsEnabled", "truefalse", "take part in a Smart Charging Network",
                f"{_G} 6.3.3.4", choices=("True", "False"), reboot=True, feature="SCN"),
        KeySpec("SCN-NetworkName", "string", "name of the SCN, identical on every member",
                f"{_G} 6.3.3.4", pattern=r"[A-Z0-9]{1,7}",
                pattern_rule="only A-Z and 0-9, at most 7 characters", reboot=True,
                feature="SCN"),
        KeySpec("SCN-SocketID", "int", "id of this station's first socket; ids start at 0",
                f"{_G} 6.3.3.4", minimum=0, maximum=128, reboot=True, feature="SCN"),
        KeySpec("SCN-SocketCount", "int", "total sockets in the SCN, the same on every member",
                f"{_G} 6.3.3.4", minimum=1, maximum=128, reboot=True, feature="SCN"),
        KeySpec("SCN-TotalStaticCurrent", "float", "static current for the whole SCN",
                f"{_G} 6.3.3.4; {_R}", unit=amps, minimum=1, maximum=5000, reboot=True,
                feature="SCN"),
        KeySpec("SCN-SocketSafeCurrent", "float",
                "per-socket current when a station loses the SCN; identical on all sockets",
                f"{_G} 6.3.3.4; {_R}", unit=amps, minimum=6, maximum=32, reboot=True,
                feature="SCN"),
        KeySpec("SCN-TotalSafeCurrent", "float", "current for the whole SCN when the meter is lost",
                f"{_G} 9.2.6; {_R}", unit=amps, minimum=1, maximum=5000, reboot=True,
                feature="SCN"),
        KeySpec("SCN-AlternatingPeriod", "int", "alternating period when current is insufficient",
                f"{_G} 6.3.3.4", unit="s", minimum=60, maximum=36000, reboot=True,
                feature="SCN"),
        KeySpec("SCN-PhaseMapping-1", "int", "phase sequence code of socket 1's feeder (1–9)",
                f"{_G} 6.3.3.4", minimum=1, maximum=9, reboot=True, feature="SCN"),
        KeySpec("SCN-PhaseMapping-2", "int", "phase sequence code of socket 2 (0 = no socket)",
                f"{_G} 6.3.3.4", minimum=0, maximum=9, reboot=True, feature="SCN"),
    ]  # fmt: skip


def _standard() -> list[KeySpec]:
    s = "s"
    return [
        # Core profile (OCPP 1.6 §9.1)
        KeySpec("AllowOfflineTxForUnknownId", "bool", "start offline transactions for unknown ids",
                _O),
        KeySpec("AuthorizationCacheEnabled", "bool", "use the authorization cache", _O),
        KeySpec("AuthorizeRemoteTxRequests", "bool", "authorize remote starts before starting", _O),
        KeySpec("BlinkRepeat", "int", "times to blink the lighting on request", _O, minimum=0),
        KeySpec("ClockAlignedDataInterval", "int", "interval of clock-aligned meter data (0 = off)",
                _O, unit=s, minimum=0),
        KeySpec("ConnectionTimeOut", "int", "time to plug in after authorization", _O, unit=s,
                minimum=0),
        KeySpec("ConnectorPhaseRotation", "csl", "phase rotation per connector, e.g. 1.RST", _O,
                pattern=r"\d+\.(RST|RTS|SRT|STR|TRS|TSR|NotApplicable|Unknown)",
                pattern_rule="items like 0.RST, 1.RTS"),
        KeySpec("ConnectorPhaseRotationMaxLength", "int", "max items of ConnectorPhaseRotation", _O,
                read_only=True),
        KeySpec("GetConfigurationMaxKeys", "int", "max keys per GetConfiguration request", _O,
                read_only=True),
        KeySpec("HeartbeatInterval", "int", "interval between heartbeats", f"{_O}; {_R}", unit=s,
                minimum=30, maximum=86400),
        KeySpec("LightIntensity", "int", "backlight intensity", _O, unit="%", minimum=0,
                maximum=100),
        KeySpec("LocalAuthorizeOffline", "bool", "authorize locally while offline", _O),
        KeySpec("LocalPreAuthorize", "bool", "authorize locally before asking", _O),
        KeySpec("MaxEnergyOnInvalidId", "int", "energy delivered after an id turns invalid", _O,
                unit="Wh", minimum=0),
        KeySpec("MeterValuesAlignedData", "csl", "measurands in clock-aligned data", _O,
                choices=MEASURANDS),
        KeySpec("MeterValuesAlignedDataMaxLength", "int", "max measurands in aligned data", _O,
                read_only=True),
        KeySpec("MeterValuesSampledData", "csl", "measurands sampled during transactions",
                f"{_O}; {_R}", choices=MEASURANDS, max_items=9),
        KeySpec("MeterValuesSampledDataMaxLength", "int", "max measurands in sampled data", _O,
                read_only=True),
        KeySpec("MeterValueSampleInterval", "int", "interval of sampled meter values (0 = off)",
                f"{_O}; {_R}", unit=s, minimum=0, maximum=86400),
        KeySpec("MinimumStatusDuration", "int", "minimum time a status must last to be sent", _O,
                unit=s, minimum=0),
        KeySpec("NumberOfConnectors", "int", "number of connectors", _O, read_only=True),
        KeySpec("ResetRetries", "int", "retries of an unsuccessful reset", _O, minimum=0),
        KeySpec("StopTransactionOnEVSideDisconnect", "bool", "stop when the EV side is unplugged",
                _O),
        KeySpec("StopTransactionOnInvalidId", "bool", "stop when the id turns invalid", _O),
        KeySpec("StopTxnAlignedData", "csl", "aligned measurands in StopTransaction", _O,
                choices=MEASURANDS),
        KeySpec("StopTxnAlignedDataMaxLength", "int", "max items of StopTxnAlignedData", _O,
                read_only=True),
        KeySpec("StopTxnSampledData", "csl", "sampled measurands in StopTransaction", _O,
                choices=MEASURANDS),
        KeySpec("StopTxnSampledDataMaxLength", "int", "max items of StopTxnSampledData", _O,
                read_only=True),
        KeySpec("SupportedFeatureProfiles", "csl", "OCPP feature profiles the station supports", _O,
                choices=FEATURE_PROFILES, read_only=True),
        KeySpec("SupportedFeatureProfilesMaxLength", "int", "max items of SupportedFeatureProfiles",
                _O, read_only=True),
        KeySpec("TransactionMessageAttempts", "int", "attempts to deliver transaction messages", _O,
                minimum=0),
        KeySpec("TransactionMessageRetryInterval", "int", "wait between those attempts", _O,
                unit=s, minimum=0),
        KeySpec("UnlockConnectorOnEVSideDisconnect", "bool", "unlock when the EV side is unplugged",
                _O),
        KeySpec("WebSocketPingInterval", "int", "websocket ping interval (0 = off)", f"{_O}; {_R}",
                unit=s, minimum=0),
        # Local authorization list (§9.2) and reservation (§9.3)
        KeySpec("LocalAuthListEnabled", "bool", "use the local authorization list", _OLL),
        KeySpec("LocalAuthListMaxLength", "int", "max entries of the local list", _OLL,
                read_only=True),
        KeySpec("SendLocalListMaxLength", "int", "max entries per SendLocalList", _OLL,
                read_only=True),
        KeySpec("ReserveConnectorZeroSupported", "bool", "connector 0 can be reserved", _ORS,
                read_only=True),
        # Smart charging (§9.4): read-only, firmware-dependent, always read at run time
        KeySpec("ChargeProfileMaxStackLevel", "int", "highest stack level accepted", _OSC,
                read_only=True),
        KeySpec("ChargingScheduleAllowedChargingRateUnit", "csl", "rate units accepted (Current)",
                _OSC, choices=("Current", "Power"), read_only=True),
        KeySpec("ChargingScheduleMaxPeriods", "int", "max periods per schedule", _OSC,
                read_only=True),
        KeySpec("ConnectorSwitch3to1PhaseSupported", "bool", "can switch from 3 to 1 phase", _OSC,
                read_only=True),
        KeySpec("MaxChargingProfilesInstalled", "int", "max installed charging profiles", _OSC,
                read_only=True),
        # Security extension
        KeySpec("AuthorizationKey", "string", "HTTP Basic auth password (write-only)", _OSEC,
                pattern=r"[\x21-\x7e]{16,40}", pattern_rule="16 to 40 printable characters",
                write_only=True),
        KeySpec("SecurityProfile", "int", "security profile (0–3)", _OSEC, minimum=0, maximum=3),
        KeySpec("OCPPStackVersion", "string", "version of the station's OCPP stack", _R,
                read_only=True),
    ]  # fmt: skip


def _build() -> dict[str, KeySpec]:
    table: dict[str, KeySpec] = {}
    for spec in [*_alfen(), *_standard()]:
        assert spec.name not in table, spec.name
        table[spec.name] = spec
    return table


CATALOG: dict[str, KeySpec] = _build()
_BY_ALIAS = {alias: spec for spec in CATALOG.values() for alias in spec.aliases}


def lookup(key: str) -> KeySpec | None:
    """The catalog entry for `key` (either spelling of aliased keys), or None when unknown."""
    return CATALOG.get(key) or _BY_ALIAS.get(key)


def spellings(key: str) -> tuple[str, ...]:
    """Every name under which a station may report `key` (canonical first)."""
    spec = lookup(key)
    if spec is None:
        return (key,)
    return (spec.name, *spec.aliases)
