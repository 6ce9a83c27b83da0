"""The example settings file (`deploy/csms.example.toml`), generated from the settings model.

Every field of `Settings` and of the tables it embeds is written with its default, its allowed
values and its description, so the example cannot fall behind the model:
`tests/app/test_settings.py` regenerates it and compares. Regenerate with::

    csms settings example > deploy/csms.example.toml

A field's description is its `Field(description=…)`, else the docstring written under it (as in
`csms.settings`), else a line in `NOTES` below. Optional settings (default None) are written
commented out, with a value from `OPTIONAL_EXAMPLES` when there is one.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import textwrap
import tomllib
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from csms.settings import Settings

HEADER = """\
# csms settings: every setting, with its default; values marked "example" are not defaults.
# Generated from the settings model by `csms settings example`; do not edit by hand.
# Use with: csms serve --config csms.toml   (or CSMS_CONFIG=csms.toml)
# Environment variables CSMS_<NAME> override top-level settings (e.g. CSMS_OCPP_PORT=9100).
# Check a file with: csms settings check csms.toml
"""

EXAMPLE: dict[str, Any] = {
    "sites": [
        {
            "id": "home",
            "meter": {"type": "modbus", "host": "192.168.0.4"},
            "circuits": [{"id": "garage", "limit_a": 16}],
            "stations": [
                {"id": "ALF-0001"},
                {"id": "ALF-0002", "phase_rotation": "L2L3L1", "circuit": "garage"},
            ],
        }
    ],
}
"""Values that are not defaults: one site with a meter, a circuit and two stations."""

OPTIONAL_EXAMPLES: dict[str, Any] = {
    "api_token": "change-me",
    "files_base_url": "http://192.168.1.20:8080",
    "tls_cert": "/etc/csms/cert.pem",
    "tls_key": "/etc/csms/key.pem",
    "charging.renew_before_s": 60,
    "alerts.webhook_url": "https://alerts.example.org/csms",
    "sites.circuits.parent": "main",
    "sites.stations.circuit": "garage",
    "sites.meter.username": "csms",
    "sites.meter.password": "change-me",
    "sites.meter.custom": {
        "current_l1": {"register": 6, "data_type": "u32", "scale": 0.001},
        "current_l2": {"register": 8, "data_type": "u32", "scale": 0.001},
        "current_l3": {"register": 10, "data_type": "u32", "scale": 0.001},
    },
    "sites.meter.custom.power_l1": {"register": 30, "data_type": "s32", "scale": 0.1},
    "sites.meter.custom.power_l2": {"register": 32, "data_type": "s32", "scale": 0.1},
    "sites.meter.custom.power_l3": {"register": 34, "data_type": "s32", "scale": 0.1},
    "sites.meter.custom.voltage_l1": {"register": 0, "scale": 0.01},
    "sites.meter.custom.voltage_l2": {"register": 2, "scale": 0.01},
    "sites.meter.custom.voltage_l3": {"register": 4, "scale": 0.01},
}
"""What an optional setting (default None) or optional table looks like when it is set."""

NOTES: dict[str, str] = {
    "database_url": 'SQLite file, or "postgresql://user@host:5432/db"',
    "ocpp_host": "address the OCPP websocket server listens on (0.0.0.0: every interface)",
    "ocpp_port": "TCP port of the OCPP websocket server",
    "ocpp_path_prefix": "stations connect to ws://HOST:PORT/ocpp/{id} (or /{id})",
    "api_host": "address of the HTTP API; any non-loopback address requires api_token",
    "api_port": "TCP port of the HTTP API",
    "api_token": 'API clients send "Authorization: Bearer <token>"',
    "unknown_stations": "what happens to a station that is not registered",
    "authorization": "accept-all, or only the id tags kept in the database",
    "tls_cert": "with tls_key: wss:// (security profile 2)",
    "tls_key": "with tls_cert: wss:// (security profile 2)",
    "heartbeat_interval_s": "HeartbeatInterval sent in the BootNotification answer",
    "ping_interval_s": "websocket pings; a dead link is noticed within ping + timeout",
    "ping_timeout_s": "a station that does not answer a ping in this time is offline",
    "max_frame_bytes": "larger websocket frames are refused",
    "response_timeout_s": "how long a station may take to answer one of our CALLs",
    "log_level": "",
    "sites": "one [[sites]] block per grid connection",
    "sites.id": "letters, digits, _ . -",
    "sites.grid_limit_a": "per-phase limit of the grid connection (main fuse)",
    "sites.phases": "",
    "sites.margin_a": "headroom kept free below grid_limit_a",
    "sites.safe_current_a": "total for the site's EVs while the meter is lost",
    "sites.meter_includes_ev": "the meter also measures the EVs (Alfen: SmartMeterIncludesCharger)",
    "sites.meter_timeout_s": "older readings count as stale: safe current",
    "sites.meter_lost_s": "after this the meter counts as lost (an error)",
    "sites.mode": "balanced, or charge only from PV surplus",
    "sites.min_current_a": "below this a socket is paused rather than charged",
    "sites.alternating_period_s": "sockets that cannot all charge take turns this long",
    "sites.sharing": "equal-current: the same current per EV (Alfen's); equal-power: the same "
    "power; max-energy: the most energy, idle phases first, a 1-phase EV may yield a phase to a "
    "3-phase EV (docs/balancing.md)",
    "sites.ramp_a_per_s": "how fast a socket's limit may rise",
    "sites.meter": "the site's grid meter (docs/meters.md)",
    "sites.meter.type": "",
    "sites.meter.host": "",
    "sites.meter.port": "default per type: 502 (modbus, simulated), 1883 (dsmr-mqtt); "
    "required for dsmr-tcp",
    "sites.meter.unit": "Modbus unit id; default: the model's",
    "sites.meter.model": 'a preset, or "custom" with [sites.meter.custom]',
    "sites.meter.custom": 'register map for model = "custom" (docs/meters.md)',
    "sites.meter.custom.word_order": "",
    "sites.meter.custom.current_l1": "required, like current_l2 and current_l3",
    "sites.meter.custom.power_l1": "optional, all three or none: the currents' direction",
    "sites.meter.custom.voltage_l1": "optional, all three or none",
    "sites.meter.poll_interval_s": "",
    "sites.meter.timeout_s": "one read's timeout",
    "sites.meter.reconnect_min_s": "first reconnect delay, doubled up to reconnect_max_s",
    "sites.meter.reconnect_max_s": "",
    "sites.meter.dsmr_version": "DSMR P1 (dsmr-tcp, dsmr-mqtt)",
    "sites.meter.stream_idle_s": "DSMR: no telegram for this long reconnects",
    "sites.meter.topic_prefix": "dsmr-mqtt: DSMR-reader's topic prefix",
    "sites.meter.username": "dsmr-mqtt: broker login",
    "sites.meter.password": "dsmr-mqtt: broker password",
    "sites.pv_surplus": 'parameters of mode = "pv-surplus"',
    "sites.pv_surplus.start_hold_s": "surplus must last this long before charging starts",
    "sites.pv_surplus.stop_delay_s": "charging stops after this long without surplus",
    "sites.pv_surplus.hysteresis_a": "",
    "sites.pv_surplus.min_charge_a": "",
    "sites.pv_surplus.boost_windows": "times that charge from the grid too",
    "sites.circuits": "optional sub-circuits between the grid connection and some stations",
    "sites.circuits.id": "",
    "sites.circuits.limit_a": "per-phase limit of the circuit",
    "sites.circuits.parent": "the circuit it hangs from (default: the grid connection)",
    "sites.stations": "the site's stations, with how they are wired",
    "sites.stations.id": "the station's charge box id",
    "sites.stations.phase_rotation": "feeder phase sequence (Alfen's Phase-Connected)",
    "sites.stations.circuit": "the circuit it hangs from (default: the grid connection)",
    "charging": "how limits are delivered to the stations",
    "charging.enabled": "",
    "charging.retry_backoff_s": "a refused or failed profile is retried after this, doubling",
    "charging.retry_backoff_max_s": "",
}
"""Descriptions of fields that have neither a description nor a docstring in the model."""

COMMENT_WIDTH = 100


# -- the model -------------------------------------------------------------------------------


def _without_none(annotation: Any) -> Any:
    """`X` for `X | None`; other annotations as they are."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _model_of(annotation: Any) -> type[BaseModel] | None:
    inner = _without_none(annotation)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return inner
    return None


def _list_model_of(annotation: Any) -> type[BaseModel] | None:
    inner = _without_none(annotation)
    if typing.get_origin(inner) is list:
        (item,) = typing.get_args(inner)
        return _model_of(item)
    return None


@cache
def _docstrings(cls: type) -> dict[str, str]:
    """Docstrings written under a class's fields (`x: int = 1` then `\"\"\"…\"\"\"`), with bases."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass in (object, BaseModel) or not issubclass(klass, BaseModel):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                found[node.target.id] = inspect.cleandoc(after.value.value)
    return found


def description(cls: type[BaseModel], name: str, path: str) -> str:
    """What the field at `path` means: its description, its docstring, or its NOTES line."""
    field = cls.model_fields[name]
    text = field.description or _docstrings(cls).get(name) or NOTES.get(path, "")
    return " ".join(text.split())


def _rules(field: FieldInfo) -> str:
    """Allowed values or range, from the field's type and constraints."""
    inner = _without_none(field.annotation)
    if typing.get_origin(inner) is Literal:
        return "one of: " + ", ".join(str(v) for v in typing.get_args(inner))
    parts = []
    for item in field.metadata:
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            if isinstance(item, getattr(annotated_types, attr.capitalize())):
                parts.append(f"{sign} {getattr(item, attr)}")
        if isinstance(item, annotated_types.MinLen) and item.min_length > 1:
            parts.append(f"at least {item.min_length} characters")
        if isinstance(item, annotated_types.MaxLen):
            parts.append(f"at most {item.max_length} characters")
    return ", ".join(parts)


def field_paths(cls: type[BaseModel] = Settings, prefix: str = "") -> list[str]:
    """Every setting's dotted path (`sites.meter.port`), tables included, as users write it."""
    paths = []
    for name, field in cls.model_fields.items():
        key = field.alias or name
        path = f"{prefix}{key}"
        paths.append(path)
        nested = _model_of(field.annotation) or _list_model_of(field.annotation)
        if nested is not None and not _inline(nested):  # an inline table's keys: in its comment
            paths.extend(field_paths(nested, path + "."))
    return paths


# -- TOML text ----------------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """A TOML literal for a settings value."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, BaseModel):
        value = value.model_dump(by_alias=True, exclude_defaults=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def _placeholder(annotation: Any) -> Any:
    """A value of the right type for an optional setting without an example."""
    inner = _without_none(annotation)
    if typing.get_origin(inner) is Literal:
        return typing.get_args(inner)[0]
    for kind, value in ((bool, False), (int, 0), (float, 0.0), (list, [])):
        if inner is kind or typing.get_origin(inner) is kind:
            return value
    return ""


def _inline(cls: type[BaseModel] | None) -> bool:
    """Small models with a required key (a register) are written as inline tables."""
    if cls is None:
        return False
    fields = cls.model_fields.values()
    nested = any(_model_of(f.annotation) or _list_model_of(f.annotation) for f in fields)
    return not nested and any(f.is_required() for f in fields)


def _about(cls: type[BaseModel], name: str, path: str, explained: set[type]) -> str:
    """The comment above a key: what it means, then its allowed values or range.

    An inline table's keys are listed once per table (`explained` holds the models listed).
    """
    field = cls.model_fields[name]
    about = description(cls, name, path).rstrip(".")
    rules = _rules(field)
    inline = _model_of(field.annotation)
    if inline is not None and _inline(inline) and inline not in explained:
        explained.add(inline)
        keys = []
        for sub_name, sub in inline.model_fields.items():
            sub_rules = _rules(sub)
            default = "" if sub.is_required() else f"default {toml_value(sub.get_default())}"
            extra = "; ".join(x for x in (sub_rules, default) if x)
            keys.append(f"{sub.alias or sub_name}" + (f" ({extra})" if extra else ""))
        rules = "keys: " + ", ".join(keys)
    if rules and rules not in about:
        about = f"{about} ({rules})" if about else rules
    return about


def _comment(text: str) -> list[str]:
    return textwrap.wrap(
        text, COMMENT_WIDTH, initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False
    )


class _Writer:
    """Writes tables in model order: a table's keys first, then its sub-tables.

    Descriptions are `# ` comments; settings shown but not set (optional ones) are commented out
    with `#` directly before the key, so removing that `#` gives a working setting.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []

    def blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def table(
        self,
        cls: type[BaseModel],
        data: dict[str, Any],
        path: str,
        header: str | None,
        commented: bool = False,
    ) -> None:
        """The table at `path`; `data` holds the example values given for it."""
        off = "#" if commented else ""
        explained: set[type] = set()
        if header is not None:
            self.blank()
            self.lines.extend(_comment(NOTES.get(path, "")))
            self.lines.append(off + header)
        later: list[tuple[str, FieldInfo, str]] = []
        for name, field in cls.model_fields.items():
            key = field.alias or name
            sub = f"{path}.{key}" if path else key
            nested = _model_of(field.annotation)
            if _list_model_of(field.annotation) or (nested is not None and not _inline(nested)):
                later.append((key, field, sub))
            else:
                self._key(cls, name, field, key, sub, data, commented, explained)
        for key, field, sub in later:
            items = _list_model_of(field.annotation)
            if items is not None:
                for item in data.get(key) or [{}]:
                    self.table(items, item, sub, f"[[{sub}]]", commented)
                continue
            nested = _model_of(field.annotation)
            assert nested is not None
            if key in data or field.get_default(call_default_factory=True) is not None:
                self.table(nested, data.get(key, {}), sub, f"[{sub}]", commented)
            else:  # an optional table: shown commented out, with example contents
                self.table(nested, OPTIONAL_EXAMPLES.get(sub, {}), sub, f"[{sub}]", True)

    def _key(
        self,
        cls: type[BaseModel],
        name: str,
        field: FieldInfo,
        key: str,
        path: str,
        data: dict[str, Any],
        commented: bool,
        explained: set[type],
    ) -> None:
        default = field.get_default(call_default_factory=True)
        note = "  # example"
        if key in data:
            value = data[key]
            note = "" if value == default else note
        elif not field.is_required() and default is not None:
            value, note = default, ""
        else:  # optional (default None), or required in an optional table without an example
            value = OPTIONAL_EXAMPLES.get(path, _placeholder(field.annotation))
            commented = commented or default is None
        self.lines.extend(_comment(_about(cls, name, path, explained)))
        self.lines.append(("#" if commented else "") + f"{key} = {toml_value(value)}{note}")


def render_example() -> str:
    """The text of `deploy/csms.example.toml`."""
    writer = _Writer()
    writer.table(Settings, EXAMPLE, "", None)
    return HEADER + "\n" + "\n".join(writer.lines).strip() + "\n"


def uncommented(text: str) -> str:
    """The example with every commented-out setting and table switched on (for tests)."""
    return "\n".join(
        line[1:] if line.startswith(("#[", "#")) and not line.startswith("# ") else line
        for line in text.splitlines()
    )


def example_settings() -> Settings:
    """The settings the example file stands for."""
    return Settings.model_validate(EXAMPLE)


def missing_settings(text: str) -> list[str]:
    """The settings (dotted paths) that `text` neither sets nor shows commented out."""
    data = tomllib.loads(uncommented(text))

    def present(node: Any, parts: list[str]) -> bool:
        if not parts:
            return True
        if isinstance(node, list):
            return any(present(item, parts) for item in node)
        return isinstance(node, dict) and parts[0] in node and present(node[parts[0]], parts[1:])

    return [path for path in field_paths() if not present(data, path.split("."))]
