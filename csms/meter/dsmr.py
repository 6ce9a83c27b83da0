"""DSMR P1 as a meter source (pure): telegrams parsed with `dsmr_parser`, and DSMR-reader's MQTT.

P1 reports current per phase as a magnitude (whole amps on DSMR 4.2 meters); the direction comes
from the per-phase power delivered (import, 1-0:21.7.0…) and returned (export, 1-0:22.7.0…):
signed current = current × sign(import − export). A meter without L2/L3 objects is single-phase
and reads 0 A there.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from dsmr_parser import telegram_specifications  # type: ignore[import-untyped]
from dsmr_parser.objects import Telegram  # type: ignore[import-untyped]
from dsmr_parser.parsers import TelegramParser  # type: ignore[import-untyped]

from csms.meter.reading import InvalidReading, MeterReading, make_reading

DSMR_SPECIFICATIONS: dict[str, dict[str, Any]] = {
    "4": telegram_specifications.V4,
    "5": telegram_specifications.V5,
    "5B": telegram_specifications.BELGIUM_FLUVIUS,
}

PhaseValues = tuple[float | None, float | None, float | None, float | None]


def telegram_parser(version: str) -> TelegramParser:
    """A parser for the given DSMR version ("4", "5", "5B"), validating the CRC where it exists."""
    return TelegramParser(DSMR_SPECIFICATIONS[version])


def _signed_phases(phases: list[PhaseValues], at: float, source: str) -> MeterReading:
    """Build a reading from per phase (current A, import kW, export kW, voltage V)."""
    if phases[0][0] is None:
        raise InvalidReading("no current for L1 (1-0:31.7.0)")
    current: list[float] = []
    power: list[float] = []
    voltage: list[float | None] = []
    for n, (amps, imported, exported, volts) in enumerate(phases, start=1):
        if amps is None and imported is None and exported is None:
            current.append(0.0)  # single-phase meter: nothing on this phase
            power.append(0.0)
            voltage.append(None)
            continue
        if amps is None or imported is None or exported is None:
            raise InvalidReading(
                f"L{n} lacks current or power delivered/returned, needed for the current's sign"
            )
        net_w = (imported - exported) * 1000.0
        current.append(-abs(amps) if net_w < 0 else abs(amps))
        power.append(net_w)
        voltage.append(volts)
    volts_all = None if any(v is None for v in voltage) else [float(v or 0) for v in voltage]
    return make_reading(at, current, power, volts_all, source)


def _number(obj: Any) -> float | None:
    value = getattr(obj, "value", None)
    if isinstance(value, Decimal | int | float):
        return float(value)
    return None


def reading_from_telegram(telegram: Telegram, at: float, source: str = "dsmr") -> MeterReading:
    """Turn a parsed P1 telegram into a reading; raises `InvalidReading`."""
    phases: list[PhaseValues] = []
    for n in (1, 2, 3):
        phases.append(
            (
                _number(getattr(telegram, f"INSTANTANEOUS_CURRENT_L{n}", None)),
                _number(getattr(telegram, f"INSTANTANEOUS_ACTIVE_POWER_L{n}_POSITIVE", None)),
                _number(getattr(telegram, f"INSTANTANEOUS_ACTIVE_POWER_L{n}_NEGATIVE", None)),
                _number(getattr(telegram, f"INSTANTANEOUS_VOLTAGE_L{n}", None)),
            )
        )
    return _signed_phases(phases, at, source)


# DSMR-reader's field names (the same in its split topics `dsmr/reading/<field>` and in
# `dsmr/json`): currents in A, powers in kW, voltages in V.
_CURRENT = "phase_power_current_l{}"
_DELIVERED = "phase_currently_delivered_l{}"
_RETURNED = "phase_currently_returned_l{}"
_VOLTAGE = "phase_voltage_l{}"
REQUIRED_FIELDS = frozenset(
    name.format(n) for n in (1, 2, 3) for name in (_CURRENT, _DELIVERED, _RETURNED)
)


def _payload_number(name: str, raw: Any) -> float | None:
    if raw is None:
        return None
    text = raw.decode(errors="replace") if isinstance(raw, bytes | bytearray) else str(raw)
    text = text.strip()
    if text.lower() in ("", "none", "null"):
        return None  # DSMR-reader publishes nothing useful for an absent phase
    try:
        number = float(text)
    except ValueError:
        raise InvalidReading(f"{name}: not a number: {text[:40]!r}") from None
    if not math.isfinite(number):
        raise InvalidReading(f"{name} is {number}")
    return number


class DsmrReaderTopics:
    """Assembles readings from DSMR-reader's MQTT messages (pure: topic, payload and time in).

    Split topics arrive one value per message; a reading is emitted once every current and
    delivered/returned power of the three phases has been updated since the previous reading.
    A message on `<prefix>/json` carries all fields at once.
    """

    def __init__(self, prefix: str = "dsmr", source: str | None = None) -> None:
        self.prefix = prefix.rstrip("/")
        self.source = source or f"dsmr-reader mqtt {self.prefix}"
        self._values: dict[str, float | None] = {}
        self._fresh: set[str] = set()

    def subscriptions(self) -> list[str]:
        """The topic filters to subscribe to."""
        return [f"{self.prefix}/reading/#", f"{self.prefix}/json"]

    def _build(self, values: Mapping[str, float | None], at: float) -> MeterReading:
        phases: list[PhaseValues] = [
            (
                values.get(_CURRENT.format(n)),
                values.get(_DELIVERED.format(n)),
                values.get(_RETURNED.format(n)),
                values.get(_VOLTAGE.format(n)),
            )
            for n in (1, 2, 3)
        ]
        return _signed_phases(phases, at, self.source)

    def feed(self, topic: str, payload: bytes | str, at: float) -> MeterReading | None:
        """Take one message; returns a reading when one is complete. Raises `InvalidReading`."""
        if topic == f"{self.prefix}/json":
            text = payload.decode(errors="replace") if isinstance(payload, bytes) else payload
            try:
                data = json.loads(text)
            except ValueError:
                raise InvalidReading(f"{topic}: not JSON") from None
            if not isinstance(data, dict):
                raise InvalidReading(f"{topic}: not a JSON object")
            fields = {
                name: _payload_number(name, data.get(name))
                for name in REQUIRED_FIELDS | {_VOLTAGE.format(n) for n in (1, 2, 3)}
            }
            return self._build(fields, at)
        head = f"{self.prefix}/reading/"
        if not topic.startswith(head):
            return None
        name = topic[len(head) :]
        if name not in REQUIRED_FIELDS and name not in {_VOLTAGE.format(n) for n in (1, 2, 3)}:
            return None
        self._values[name] = _payload_number(name, payload)
        if name in REQUIRED_FIELDS:
            self._fresh.add(name)
        if self._fresh != REQUIRED_FIELDS:
            return None
        self._fresh = set()
        return self._build(self._values, at)
