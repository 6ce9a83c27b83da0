"""Settings: a TOML file plus `CSMS_…` environment variables, validated with pydantic.

Validation happens once, at the edge; the rest of the program reads plain, already-checked values.
A bad setting raises `SettingsError` whose message names the setting, so start-up stops with one
clear line instead of a traceback.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from csms.meter.config import MeterSettings
from csms.station_ids import StationId

PHASE_ROTATIONS = ("L1", "L2", "L3", "L1L2L3", "L1L3L2", "L2L1L3", "L2L3L1", "L3L1L2", "L3L2L1")


class ChargingSettings(BaseModel):
    """How limits are delivered to stations."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    profile_validity_s: float = Field(default=300, gt=0, le=86400)
    """TxProfiles end this long after they were sent unless renewed: when the central system goes
    silent, stations fall back to the safe TxDefaultProfile within this time."""
    renew_before_s: float | None = Field(default=None, gt=0)
    """Renew a profile this long before it ends (default: half the validity)."""
    deadband_a: float = Field(default=1.0, ge=0, le=10)
    """Changes smaller than this are not sent (never a decrease needed for safety)."""
    retry_backoff_s: float = Field(default=1.0, gt=0)
    retry_backoff_max_s: float = Field(default=60.0, gt=0)
    min_rewrite_interval_s: float = Field(default=30.0, ge=0, le=3600)
    """A connector's profile is rewritten at most this often (each rewrite may be a flash write on
    the station); urgent decreases, the first limit of a session and renewals are not held back."""
    verify_tolerance_a: float = Field(default=0.5, ge=0, le=10)
    """The composite schedule (or Current.Offered) may differ this much from what the station
    accepted before it counts as a disagreement and the limit is re-sent."""
    verify_max_resends: int = Field(default=3, ge=0, le=100)
    """Re-sends after disagreements before the API says the station does not agree (and stops)."""
    offered_grace_s: float = Field(default=10.0, gt=0, le=600)
    """Current.Offered above the accepted limit for longer than this is a disagreement."""
    control_interval_s: float = Field(default=1.0, gt=0, le=60)
    """The control loop runs at least this often, readings or not (meter staleness, renewals)."""
    snapshot_refresh_s: float = Field(default=30.0, gt=0)
    """Unused: snapshots now reach the control loop as events. Accepted so that configuration
    files written for earlier versions still load."""

    @model_validator(mode="after")
    def _consistent(self) -> ChargingSettings:
        if self.renew_before_s is not None and self.renew_before_s >= self.profile_validity_s:
            raise ValueError("renew_before_s must be shorter than profile_validity_s")
        if self.retry_backoff_max_s < self.retry_backoff_s:
            raise ValueError("retry_backoff_max_s must not be shorter than retry_backoff_s")
        return self

    @property
    def renew_margin_s(self) -> float:
        if self.renew_before_s is not None:
            return self.renew_before_s
        return self.profile_validity_s / 2


class AlertSettings(BaseModel):
    """Alerts (station offline, connector Faulted, firmware update failed, site in safe mode)."""

    model_config = ConfigDict(extra="forbid")

    offline_after_s: float = Field(default=300, gt=0)
    """A station that has been offline this long raises an alert."""
    check_interval_s: float = Field(default=10, gt=0, le=3600)
    """How often the alerts are evaluated."""
    webhook_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    """Each alert raised or cleared is POSTed here as JSON (none: no webhook)."""
    webhook_retries: int = Field(default=3, ge=0, le=20)
    """Retries of a failed webhook POST (with backoff), then it is logged and dropped."""
    webhook_timeout_s: float = Field(default=5, gt=0, le=60)
    """How long one webhook POST may take."""


class ClusterSettings(BaseModel):
    """Several `csms serve` processes on one PostgreSQL database forming one cluster
    (docs/deployment.md). Off by default: one process, SQLite or PostgreSQL, as always."""

    enabled: bool = False
    """Join the cluster of every node with the same PostgreSQL `database_url`."""
    node_lease_s: float = Field(default=6, ge=1, le=120)
    """A node renews its liveness lease every third of this; a node whose lease lapses is dead
    and its stations are marked offline."""
    site_takeover_s: float = Field(default=10, ge=2, le=120)
    """The longest a site goes without a leader after its leader dies (the site lease)."""


class SettingsError(ValueError):
    """A setting is missing, malformed or out of range; the message names it."""


class SiteStation(BaseModel):
    """A station that belongs to a site, with how it is wired to the grid."""

    model_config = ConfigDict(extra="forbid")

    id: StationId
    phase_rotation: str = "L1L2L3"
    circuit: str | None = None
    control: Literal["ocpp", "modbus"] = Field(
        default="ocpp",
        description="How the station's limits are delivered: OCPP charging profiles, or writes "
        "of register 1210 to its own Modbus TCP slave (Alfen EMS mode; see docs/modbus.md).",
    )
    modbus_host: str | None = Field(
        default=None,
        description="Address of the station's Modbus TCP slave (needed with control = modbus).",
    )
    modbus_port: int = Field(
        default=502, ge=1, le=65535, description="Port of the station's Modbus TCP slave."
    )

    @model_validator(mode="after")
    def _modbus_needs_host(self) -> SiteStation:
        if self.control == "modbus" and not self.modbus_host:
            raise ValueError(f"station {self.id}: control = modbus needs modbus_host")
        return self

    @field_validator("phase_rotation")
    @classmethod
    def _known_rotation(cls, value: str) -> str:
        if value not in PHASE_ROTATIONS:
            raise ValueError(f"must be one of {', '.join(PHASE_ROTATIONS)}")
        return value


class CircuitSettings(BaseModel):
    """An optional sub-circuit between the grid connection and some stations."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    limit_a: float = Field(gt=0, le=10000)
    parent: str | None = None


class PvSurplusSettings(BaseModel):
    """Parameters of the PV-surplus mode (charge only from export)."""

    model_config = ConfigDict(extra="forbid")

    start_hold_s: float = Field(default=60, ge=0)
    stop_delay_s: float = Field(default=300, ge=0)
    hysteresis_a: float = Field(default=1.0, ge=0)
    min_charge_a: float = Field(default=0, ge=0)
    boost_windows: list[str] = Field(default_factory=list)
    phase_switch_dwell_s: float = Field(
        default=300,
        ge=0,
        description="Modbus-controlled stations: the least time between two 1 <-> 3 phase "
        "switches (register 1215), which PV-surplus mode makes where the surplus crosses the "
        "3-phase minimum.",
    )


class SiteSettings(BaseModel):
    """One grid connection with its meter and stations."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    grid_limit_a: float = Field(default=25, gt=0, le=10000)
    phases: Literal[1, 3] = 3
    margin_a: float = Field(default=1, ge=0)
    safe_current_a: float = Field(default=6, ge=0)
    meter_includes_ev: bool = True
    # The most the site's PV can export per phase: with `meter_includes_ev` a reading below the
    # EVs' own draw by more than this (plus the tolerance) means the meter does not see them.
    # None: 0 on a balanced site, the grid limit on a pv-surplus site.
    pv_export_max_a: float | None = Field(default=None, ge=0, le=10000)
    meter_check_tolerance_a: float = Field(default=2.0, gt=0, le=100)
    meter_timeout_s: float = Field(default=10, gt=0)
    meter_lost_s: float = Field(default=120, gt=0)
    mode: Literal["balanced", "pv-surplus"] = "balanced"
    min_current_a: float = Field(default=6, ge=0, le=32)
    alternating_period_s: float = Field(default=900, ge=60, le=36000)
    sharing: Literal["equal-current", "equal-power", "max-energy"] = "equal-current"
    ramp_a_per_s: float = Field(default=1.0, gt=0)
    meter: MeterSettings = Field(default_factory=MeterSettings)
    pv_surplus: PvSurplusSettings = Field(default_factory=PvSurplusSettings)
    circuits: list[CircuitSettings] = Field(default_factory=list)
    stations: list[SiteStation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> SiteSettings:
        if self.margin_a >= self.grid_limit_a:
            raise ValueError("margin_a must be smaller than grid_limit_a")
        if self.meter_lost_s < self.meter_timeout_s:
            raise ValueError("meter_lost_s must not be shorter than meter_timeout_s")
        ids = [s.id for s in self.stations]
        if len(ids) != len(set(ids)):
            raise ValueError("a station is listed twice")
        circuits = {c.id for c in self.circuits}
        for station in self.stations:
            if station.circuit is not None and station.circuit not in circuits:
                raise ValueError(f"station {station.id} names unknown circuit {station.circuit!r}")
        return self

    @property
    def pv_export_a(self) -> float:
        """The export per phase the meter check allows (see `pv_export_max_a`)."""
        if self.pv_export_max_a is not None:
            return self.pv_export_max_a
        return self.grid_limit_a if self.mode == "pv-surplus" else 0.0


class Settings(BaseModel):
    """Everything the central system reads at start-up."""

    model_config = ConfigDict(extra="forbid")

    database_url: str = "sqlite:///./csms-data/csms.sqlite3"
    ocpp_host: str = "0.0.0.0"
    ocpp_port: int = Field(default=9000, ge=0, le=65535)
    ocpp_path_prefix: str = "/ocpp"
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=0, le=65535)
    api_token: str | None = None
    unknown_stations: Literal["pending", "accept", "reject"] = "pending"
    # Policy `pending`: how fast unknown ids may register, and how many may wait for approval.
    pending_registrations_per_minute: float = Field(default=30, gt=0)
    pending_registrations_burst: int = Field(default=10, ge=1)
    max_pending_stations: int = Field(default=100, ge=0)
    # Rows per kind (meter values, status history, events, transactions, unmatched stops,
    # connectors) a station that is not accepted may add; the rest is answered, not stored.
    pending_row_limit: int = Field(default=100, ge=0)
    authorization: Literal["accept-all", "allow-list"] = "accept-all"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    heartbeat_interval_s: int = Field(default=300, ge=10)
    ping_interval_s: float = Field(default=20, gt=0)
    ping_timeout_s: float = Field(default=20, gt=0)
    max_frame_bytes: int = Field(default=65536, ge=1024)
    handshakes_at_once: int = Field(
        default=512,
        ge=1,
        le=10_000,
        description=(
            "opening handshakes worked on at a time; the rest of a reconnect storm waits its turn "
            "(FIFO) without its open timeout running, so a storm is accepted at the pace the "
            "server can check stations, and none is dropped for being queued"
        ),
    )
    event_loop: Literal["asyncio", "uvloop"] = Field(
        default="asyncio",
        description=(
            "the event loop of `csms serve`: `uvloop` spends less CPU per message, but in accept "
            "storms of 5,000-10,000 stations it used 1.9-3.5 times the server CPU of asyncio's "
            "loop in four of five runs here, so it is not the default (docs/performance.md)"
        ),
    )
    websocket_compression: Literal["off", "deflate"] = Field(
        default="off",
        description=(
            "permessage-deflate for station connections: `off` answers no offer (OCPP frames are "
            "small; deflating them cost ~25 % of the server's CPU per message), `deflate` accepts "
            "a station's offer (saves data on metered mobile links)"
        ),
    )
    response_timeout_s: float = Field(default=30, gt=0)
    # Per station: frames past the burst are read at this rate (the rest wait in TCP); honest
    # stations (one CALL in flight) never come near it. See docs/connections.md.
    message_rate_per_s: float = Field(default=20, gt=0)
    message_burst: int = Field(default=200, ge=1)
    # A connected station that sends no BootNotification (it only re-opened its websocket) gets
    # CALLs after its first other message, or after this long in silence.
    boot_grace_s: float = Field(default=30, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    """`text` for a terminal; `json`: one object per line with node_id, station_id and site_id
    fields, for a log collector (journald, Loki, Elasticsearch, Kubernetes)."""
    node_id: str | None = Field(default=None, min_length=1, max_length=64)
    """This process's name in logs and probes; default: the host name."""
    files_base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="where stations reach this server's HTTP port for firmware downloads and "
        "diagnostics uploads (e.g. http://192.168.1.20:8080); default: the address the "
        "operator's request used",
    )
    sites: list[SiteSettings] = Field(default_factory=list)
    charging: ChargingSettings = Field(default_factory=ChargingSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    event_retention_days: float = Field(default=90, gt=0)
    """Event-log rows (status history, connects, boots, firmware and security events) older than
    this are pruned, in small batches off the stations' path."""

    @field_validator("ocpp_path_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = "/" + value.strip("/")
        return "" if value == "/" else value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be given together")
        if self.api_host not in ("127.0.0.1", "localhost", "::1") and not self.api_token:
            raise ValueError(
                f"api_host {self.api_host} is not loopback: set api_token (CSMS_API_TOKEN) "
                "before exposing the API"
            )
        if self.cluster.enabled and not self.database_url.startswith(("postgresql:", "postgres:")):
            raise ValueError("cluster.enabled needs a PostgreSQL database_url (the nodes share it)")
        site_ids = [s.id for s in self.sites]
        if len(site_ids) != len(set(site_ids)):
            raise ValueError("two sites share an id")
        owners: dict[str, str] = {}
        for site in self.sites:
            for station in site.stations:
                if station.id in owners:
                    raise ValueError(
                        f"station {station.id} is in sites {owners[station.id]} and {site.id}"
                    )
                owners[station.id] = site.id
        return self

    def site_of(self, station_id: str) -> SiteSettings | None:
        """The site a station belongs to, if any."""
        for site in self.sites:
            if any(s.id == station_id for s in site.stations):
                return site
        return None


ENV_PREFIX = "CSMS_"
_TABLES = (
    "sites",
    "charging",
    "alerts",
    "cluster",
)  # nested tables come from the TOML file, not from one variable
_ENV_NAMES = {name.upper(): name for name in Settings.model_fields if name not in _TABLES}


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def _format(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = _location(tuple(item["loc"])) or "settings"
        lines.append(f"setting {where}: {item['msg']}")
    return "; ".join(lines)


def load_settings(
    config_file: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Read settings from the TOML file, then `CSMS_…` variables, then explicit overrides.

    The config file is `config_file`, else `$CSMS_CONFIG`, else none. Raises `SettingsError`.
    """
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    path = config_file or env.get("CSMS_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise SettingsError(f"setting config: file {path} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"setting config: {path} is not valid TOML: {exc}") from None
    for key, value in env.items():
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :] in _ENV_NAMES:
            data[_ENV_NAMES[key[len(ENV_PREFIX) :]]] = value
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(_format(exc)) from None
