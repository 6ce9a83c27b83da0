"""What the core repositories return: one frozen dataclass per kind of stored row.

Rows leave the storage typed, so a misspelt column is a mypy error at the caller rather than a
KeyError at run time. The field names are the column names; a record is built from the columns it
names (a column a later migration adds is ignored until a field asks for it) and fails loudly when
one of its columns is missing. The API turns records into its own models with explicit functions,
so renaming a field here never silently changes the JSON it serves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any, NamedTuple, Self

import orjson

from csms.storage.database import Row

_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


class _FromRow:
    """`from_row`: the record's fields taken by name from a database row."""

    __slots__ = ()

    @classmethod
    def from_row(cls, row: Row) -> Self:
        try:
            return cls(**{name: row[name] for name in _names(cls)})
        except KeyError as exc:
            raise KeyError(f"{cls.__name__}: the row has no column {exc.args[0]!r}") from None


@dataclass(frozen=True, slots=True)
class StationRecord(_FromRow):
    """A registered station: registration, boot data and online state."""

    id: str
    status: str
    password_hash: str | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    iccid: str | None
    imsi: str | None
    meter_type: str | None
    meter_serial_number: str | None
    boot_at: float | None
    first_seen: float
    last_seen: float | None
    last_heartbeat: float | None
    online: bool

    def __post_init__(self) -> None:
        # Stored as INTEGER 0/1 on both engines (portable booleans).
        object.__setattr__(self, "online", bool(self.online))


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """What a StatusNotification says about one connector (written as it came; the two records
    below are it as read back, with where and when it was stored)."""

    connector_id: int
    status: str
    error_code: str
    info: str | None
    vendor_id: str | None
    vendor_error_code: str | None
    station_time: str | None


@dataclass(frozen=True, slots=True)
class ConnectorRecord(StatusRecord, _FromRow):
    """A connector's latest reported state."""

    station_id: str
    updated_at: float


@dataclass(frozen=True, slots=True)
class StatusHistoryRecord(StatusRecord, _FromRow):
    """One StatusNotification as it was received."""

    id: int
    station_id: str
    received_at: float


@dataclass(frozen=True, slots=True)
class IdTagRecord(_FromRow):
    """An id tag on the allow-list."""

    id_tag: str
    note: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class TransactionRecord(_FromRow):
    """A transaction; `meter_stop` and the other stop fields are None while it runs."""

    id: int
    station_id: str
    connector_id: int
    id_tag: str
    meter_start: int
    start_time: str
    started_at: float
    reservation_id: int | None
    meter_stop: int | None
    stop_time: str | None
    stopped_at: float | None
    stop_reason: str | None
    stop_id_tag: str | None
    created_at: float
    close_reason: str | None = None
    """Why an operator closed it by hand (then `closed_by_operator`)."""
    closed_by_operator: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "closed_by_operator", bool(self.closed_by_operator))

    @property
    def energy_wh(self) -> int | None:
        """Session energy: meterStop − meterStart of the same transaction (None while running)."""
        return None if self.meter_stop is None else self.meter_stop - self.meter_start


@dataclass(frozen=True, slots=True)
class UnmatchedStopRecord(_FromRow):
    """A StopTransaction whose transaction id was unknown, kept aside."""

    id: int
    station_id: str
    transaction_id: int
    id_tag: str | None
    meter_stop: int
    stop_time: str
    reason: str | None
    received_at: float


ENERGY_REGISTER = "Energy.Active.Import.Register"
"""The measurand of a sampled value that names none (OCPP 1.6)."""


def _number(value: str) -> float | None:
    """A sampled value's number (None: not a finite number)."""
    try:
        result = float(value)
    except ValueError:
        return None
    return result if result == result and abs(result) != float("inf") else None


def sampled_number(sv: dict[str, Any]) -> float | None:
    """A sampled value's number: None for a signed value (its value is not a reading) or one
    that is not a finite number."""
    return None if sv.get("format") == "SignedData" else _number(sv["value"])


class MeterValueRow(NamedTuple):
    """One meterValue element of a MeterValues message (a timestamp and its sampled values) as
    stored: one row, the sampled values kept as the station sent them (JSON), beside the one
    figure queries need, the whole outlet's energy register.

    A named tuple, not a frozen dataclass: one is built per MeterValues on the hot path (a tuple
    costs about half), and the fields are in column order, so a row is already the argument
    tuple of the insert. One row per element, not one per sampled value: five rows and their
    index entries per message were the largest share of a stored MeterValues' cost
    (docs/performance.md, "One row per meterValue").
    """

    station_id: str
    connector_id: int
    transaction_id: int | None
    sampled_at: str
    samples: str  # the element's sampledValue array, JSON
    energy_wh: float | None  # its Energy.Active.Import.Register without a phase, in Wh
    received_at: float


def energy_register_wh(sampled_values: list[dict[str, Any]]) -> float | None:
    """The element's whole-outlet energy register in Wh: the last sampled value of
    Energy.Active.Import.Register without a phase whose value is a number (kWh converted)."""
    found = None
    for sv in sampled_values:
        get = sv.get
        if (
            get("phase") is None
            and (get("measurand") or ENERGY_REGISTER) == ENERGY_REGISTER
            and (value := sampled_number(sv)) is not None
        ):
            found = value * 1000.0 if get("unit") == "kWh" else value
    return found


@dataclass(frozen=True, slots=True)
class MeterValueRecord:
    """One stored sampled value, as the station sent it: a stored row's element with the
    OCPP defaults applied (no measurand: the energy register) and its number, if it has one."""

    id: int  # of the stored element (its sampled values share it)
    station_id: str
    connector_id: int
    transaction_id: int | None
    sampled_at: str
    value: str
    numeric: float | None
    measurand: str | None
    phase: str | None
    unit: str | None
    context: str | None
    location: str | None
    format: str | None
    received_at: float

    @classmethod
    def expand(cls, row: Row) -> list[MeterValueRecord]:
        """The sampled values of one stored element, in the order the station sent them."""
        out = []
        for sv in orjson.loads(row["samples"]):
            get = sv.get
            out.append(
                cls(
                    row["id"],
                    row["station_id"],
                    row["connector_id"],
                    row["transaction_id"],
                    row["sampled_at"],
                    str(sv["value"]),
                    sampled_number(sv),
                    get("measurand") or ENERGY_REGISTER,
                    get("phase"),
                    get("unit"),
                    get("context"),
                    get("location"),
                    get("format"),
                    row["received_at"],
                )
            )
        return out


@dataclass(frozen=True, slots=True)
class StationEventRecord(_FromRow):
    """A message kept as it came (DataTransfer, diagnostics, firmware, configuration failures).

    `payload` is the JSON text as stored (keys sorted); `data()` parses it.
    """

    id: int
    station_id: str
    kind: str
    payload: str
    received_at: float

    def data(self) -> Any:
        return json.loads(self.payload)
