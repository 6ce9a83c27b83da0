"""The inputs of `csms simulate`: a site file, a load/PV profile and a sessions file.

- The site file is the TOML `csms serve` reads (`[[sites]]`, optionally `[charging]`), validated by
  the same settings model, so a site that simulates well is the site that runs.
- The profile CSV gives the household load and the PV production by time of day (it repeats every
  day); each row holds until the next one.
- The sessions CSV lists the EVs' visits: arrival, departure, energy need, phases, maximum current
  and, optionally, the station and connector (otherwise the first socket free for the whole visit)
  and what the driver tells the central system (`told_departure`, `told_energy_kwh`: a value, or
  `yes` for the visit's own; empty or missing: not told), which departure-aware sharing uses.

Every problem is a `ScenarioError` whose one-line message names the file, the line and the field.
"""

from __future__ import annotations

import bisect
import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from csms.settings import ChargingSettings, SettingsError, SiteSettings, load_settings

DAY_S = 86400.0
VOLTAGE_V = 230.0
Triple = tuple[float, float, float]


class ScenarioError(ValueError):
    """A scenario file is missing or malformed; the message names the file, line and field."""


@dataclass(frozen=True, slots=True)
class LoadPoint:
    """From `at_s` (seconds after midnight) on: household load and PV production per phase (A)."""

    at_s: float
    household_a: Triple
    pv_a: Triple


@dataclass(frozen=True)
class LoadProfile:
    """Household and PV by time of day: each point holds until the next, and the day repeats."""

    points: tuple[LoadPoint, ...]

    def __post_init__(self) -> None:
        if not self.points:
            raise ScenarioError("a load profile needs at least one row")
        times = [p.at_s for p in self.points]
        if times != sorted(times):
            raise ScenarioError("load profile rows must be in time order")

    def at(self, time_s: float) -> LoadPoint:
        """The point in effect at `time_s` (any number of days after midnight)."""
        of_day = time_s % DAY_S
        index = bisect.bisect_right([p.at_s for p in self.points], of_day) - 1
        return self.points[index]  # index −1 before the first row: the previous day's last


@dataclass(frozen=True, slots=True)
class Visit:
    """One EV's visit. Times are seconds after midnight of the first day (may pass midnight)."""

    name: str
    station: str
    connector: int
    arrive_s: float
    leave_s: float
    need_kwh: float
    phases: int
    max_current_a: float
    told_departure_s: float | None = None
    """The departure the driver told (seconds after the first midnight); None: not told."""
    told_energy_kwh: float | None = None
    """The energy need the driver told; None: not told."""

    @property
    def tells(self) -> bool:
        return self.told_departure_s is not None or self.told_energy_kwh is not None

    def telling_all(self) -> Visit:
        """The visit with its true departure and need told (`--departures-known`)."""
        return replace(self, told_departure_s=self.leave_s, told_energy_kwh=self.need_kwh)


@dataclass(frozen=True)
class Scenario:
    """Everything a simulation runs on."""

    site: SiteSettings
    charging: ChargingSettings
    profile: LoadProfile
    visits: tuple[Visit, ...]
    sockets: Mapping[str, int]  # station id → 1 or 2 sockets


# -- the site file ---------------------------------------------------------------------------------


def load_site(
    path: Path | str, site_id: str | None = None
) -> tuple[SiteSettings, ChargingSettings]:
    """The site (and the `[charging]` settings) from a `csms serve` TOML file."""
    try:
        settings = load_settings(path, env={})
    except SettingsError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    if not settings.sites:
        raise ScenarioError(f"{path}: no [[sites]] table")
    if site_id is None:
        if len(settings.sites) > 1:
            ids = ", ".join(s.id for s in settings.sites)
            raise ScenarioError(f"{path}: {len(settings.sites)} sites ({ids}); choose one")
        site = settings.sites[0]
    else:
        found = [s for s in settings.sites if s.id == site_id]
        if not found:
            raise ScenarioError(f"{path}: no site {site_id!r}")
        site = found[0]
    if not site.stations:
        raise ScenarioError(f"{path}: site {site.id} has no [[sites.stations]]")
    return site, settings.charging


# -- CSV helpers -----------------------------------------------------------------------------------


def parse_time(text: str) -> float:
    """Seconds after midnight from `HH:MM`, `HH:MM:SS` (hours may pass 24: the next day) or a
    plain number of seconds."""
    value = text.strip()
    if ":" not in value:
        try:
            seconds = float(value)
        except ValueError:
            raise ValueError(f"not a time: {text!r} (e.g. 07:30, or seconds)") from None
    else:
        parts = value.split(":")
        if len(parts) not in (2, 3) or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"not a time: {text!r} (e.g. 07:30 or 31:00 for 07:00 the next day)")
        numbers = [int(p) for p in parts] + [0]
        if numbers[1] >= 60 or numbers[2] >= 60:
            raise ValueError(f"not a time: {text!r}")
        seconds = numbers[0] * 3600.0 + numbers[1] * 60.0 + numbers[2]
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a time: {text!r}")
    return seconds


def format_time(seconds: float) -> str:
    """`HH:MM` or `HH:MM:SS` (hours past 23 for the next day), the inverse of `parse_time`."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def _rows(
    path: Path | str, text: str | None = None
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    try:
        content = Path(path).read_text(encoding="utf-8") if text is None else text
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    lines = [line for line in content.splitlines() if not line.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)), skipinitialspace=True)
    header = [h.strip().lower() for h in reader.fieldnames or []]
    reader.fieldnames = header
    rows = []
    for number, row in enumerate(reader, start=2):
        if None in row:
            raise ScenarioError(f"{path}: line {number}: more values than columns")
        if any((v or "").strip() for v in row.values()):
            rows.append((number, {k: (v or "").strip() for k, v in row.items()}))
    return header, rows


def _number(path: Path | str, line: int, row: Mapping[str, str], name: str, low: float) -> float:
    text = row.get(name, "")
    try:
        value = float(text)
    except ValueError:
        raise ScenarioError(f"{path}: line {line}: {name} = {text!r} is not a number") from None
    if not math.isfinite(value) or value < low:
        raise ScenarioError(f"{path}: line {line}: {name} = {text} must be at least {low:g}")
    return value


def _time(path: Path | str, line: int, row: Mapping[str, str], name: str) -> float:
    try:
        return parse_time(row.get(name, ""))
    except ValueError as exc:
        raise ScenarioError(f"{path}: line {line}: {name}: {exc}") from None


# -- the load profile ------------------------------------------------------------------------------


def _phases_of(
    path: Path | str,
    line: int,
    row: Mapping[str, str],
    stem: str,
    header: Sequence[str],
    site_phases: int,
) -> Triple:
    """`stem_l1..3` (A per phase), `stem_a` (A on every phase) or `stem_kw` (total kW spread
    over the site's phases); a missing column is 0."""
    if f"{stem}_l1" in header:
        a, b, c = (_number(path, line, row, f"{stem}_l{n}", 0.0) for n in (1, 2, 3))
        return (a, b, c)
    if f"{stem}_a" in header:
        amps = _number(path, line, row, f"{stem}_a", 0.0)
        return (amps, amps, amps) if site_phases == 3 else (amps, 0.0, 0.0)
    if f"{stem}_kw" in header:
        kw = _number(path, line, row, f"{stem}_kw", 0.0)
        amps = kw * 1000.0 / VOLTAGE_V / site_phases
        return (amps, amps, amps) if site_phases == 3 else (amps, 0.0, 0.0)
    return (0.0, 0.0, 0.0)


def load_profile(path: Path | str, site_phases: int = 3, text: str | None = None) -> LoadProfile:
    """Read a profile CSV: `time` plus household and PV columns (see `_phases_of`)."""
    header, rows = _rows(path, text)
    if "time" not in header:
        raise ScenarioError(f"{path}: line 1: no 'time' column")
    if not any(h.startswith("household_") for h in header):
        raise ScenarioError(
            f"{path}: line 1: no household column (household_l1..3, household_a or household_kw)"
        )
    points: list[LoadPoint] = []
    for line, row in rows:
        at = _time(path, line, row, "time")
        if at >= DAY_S:
            raise ScenarioError(f"{path}: line {line}: time {row['time']} is not within a day")
        if points and at <= points[-1].at_s:
            raise ScenarioError(f"{path}: line {line}: time {row['time']} is not after the last")
        household = _phases_of(path, line, row, "household", header, site_phases)
        pv = _phases_of(path, line, row, "pv", header, site_phases)
        points.append(LoadPoint(at, household, pv))
    if not points:
        raise ScenarioError(f"{path}: no rows")
    return LoadProfile(tuple(points))


# -- the sessions ----------------------------------------------------------------------------------

SESSION_COLUMNS = ("arrival", "departure", "energy_kwh", "phases", "max_current_a")


def load_sessions(
    path: Path | str, site: SiteSettings, text: str | None = None
) -> tuple[tuple[Visit, ...], dict[str, int]]:
    """Read a sessions CSV; returns the visits (each with its socket) and the sockets per station.

    A station has as many sockets (1 or 2) as the highest connector any session names for it;
    a session without station/connector gets the first socket free for its whole visit.
    """
    header, rows = _rows(path, text)
    missing = [c for c in SESSION_COLUMNS if c not in header]
    if missing:
        raise ScenarioError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    stations = [s.id for s in site.stations]
    sockets = dict.fromkeys(stations, 1)
    parsed: list[tuple[int, Visit]] = []
    for line, row in rows:
        name = row.get("name") or f"EV{len(parsed) + 1}"
        if any(v.name == name for _, v in parsed):  # names key the figures: keep them apart
            name = f"{name} #{sum(1 for _, v in parsed if v.name.split(' #')[0] == name) + 1}"
        arrive = _time(path, line, row, "arrival")
        leave = _time(path, line, row, "departure")
        if leave <= arrive:
            leave += DAY_S  # leaves the next day
        need = _number(path, line, row, "energy_kwh", 0.0)
        phases = _number(path, line, row, "phases", 1.0)
        if phases not in (1.0, 2.0, 3.0):
            raise ScenarioError(f"{path}: line {line}: phases = {row['phases']} must be 1, 2 or 3")
        amps = _number(path, line, row, "max_current_a", 1.0)
        station = row.get("station", "")
        connector = 0
        if station:
            if station not in sockets:
                raise ScenarioError(
                    f"{path}: line {line}: station {station!r} is not in the site "
                    f"({', '.join(stations)})"
                )
            connector = (
                int(_number(path, line, row, "connector", 1.0)) if row.get("connector") else 1
            )
            if connector not in (1, 2):
                raise ScenarioError(f"{path}: line {line}: connector = {connector} must be 1 or 2")
            sockets[station] = max(sockets[station], connector)
        told_leave: float | None = None
        if (text := row.get("told_departure", "")).lower() == "yes":
            told_leave = leave
        elif text:
            told_leave = _time(path, line, row, "told_departure")
            while told_leave <= arrive:
                told_leave += DAY_S  # leaves the next day, as the departure
        told_need: float | None = None
        if (text := row.get("told_energy_kwh", "")).lower() == "yes":
            told_need = need
        elif text:
            told_need = _number(path, line, row, "told_energy_kwh", 0.0)
        visit = Visit(name, station, connector, arrive, leave, need, int(phases), amps)
        parsed.append(
            (line, replace(visit, told_departure_s=told_leave, told_energy_kwh=told_need))
        )
    return _assign(path, parsed, sockets), sockets


def _assign(
    path: Path | str, parsed: Iterable[tuple[int, Visit]], sockets: Mapping[str, int]
) -> tuple[Visit, ...]:
    """Give each visit without a socket the first one free over its whole stay; refuse overlaps."""
    taken: dict[tuple[str, int], list[tuple[float, float]]] = {
        (sid, c): [] for sid, n in sockets.items() for c in range(1, n + 1)
    }

    def free(key: tuple[str, int], visit: Visit) -> bool:
        return all(visit.leave_s <= a or visit.arrive_s >= b for a, b in taken[key])

    out = []
    fixed = [(line, v) for line, v in parsed if v.station]
    floating = sorted(
        ((line, v) for line, v in parsed if not v.station), key=lambda x: x[1].arrive_s
    )
    for line, visit in fixed:
        key = (visit.station, visit.connector)
        if not free(key, visit):
            raise ScenarioError(
                f"{path}: line {line}: {visit.name} overlaps another visit on "
                f"{visit.station}/{visit.connector}"
            )
        taken[key].append((visit.arrive_s, visit.leave_s))
        out.append(visit)
    for line, visit in floating:
        found = next((k for k in taken if free(k, visit)), None)
        if found is None:
            raise ScenarioError(
                f"{path}: line {line}: no socket is free for {visit.name} from "
                f"{format_time(visit.arrive_s)} to {format_time(visit.leave_s)}"
            )
        taken[found].append((visit.arrive_s, visit.leave_s))
        out.append(replace(visit, station=found[0], connector=found[1]))
    return tuple(sorted(out, key=lambda v: (v.arrive_s, v.station, v.connector)))


def load_scenario(
    site_file: Path | str,
    profile_file: Path | str,
    sessions_file: Path | str,
    site_id: str | None = None,
) -> Scenario:
    """All three files, checked."""
    site, charging = load_site(site_file, site_id)
    profile = load_profile(profile_file, site.phases)
    visits, sockets = load_sessions(sessions_file, site)
    return Scenario(site, charging, profile, visits, sockets)
