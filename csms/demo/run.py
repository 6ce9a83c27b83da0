"""`csms demo`: a whole simulated site on this machine, a day compressed into minutes.

The central system (with its own temporary database), a simulated Modbus grid meter whose reading
is household load − PV + the EVs, and simulated Alfen stations all run in this process on
127.0.0.1. A scripted day (`csms.demo.scenario`) drives the household, the PV and the EVs; the
speed factor compresses it. The demo measures the real grid current as the meter simulator
reports it and closes with a summary: peak current per phase against the limit, how long and by
how many ampere-seconds the grid was above its limit (and how much of that outlasted the reaction
time), energy per EV.

The verdict allows a fixed reaction time of `REACTION_S` simulated seconds, whatever the speed.
Real I/O takes real time (a meter poll, a control step, an OCPP round trip), which a speed factor
stretches into simulated time; a speed at which that no longer fits into the reaction time is
refused, and without `--speed` the demo runs at the fastest speed that fits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from csms.app import CentralSystem, running_central_system
from csms.demo.scenario import DAY_S, PV_PEAK_A, DemoEv, household_a, pv_a, sessions
from csms.settings import Settings
from csms.sim.clock import SimClock
from csms.sim.ev import SimEv
from csms.sim.meter import MeterSimulator
from csms.sim.site import RECOMMENDED_ROTATIONS, SimSite
from csms.sim.station import SimStation
from csms.simulate.metrics import GridTally

log = logging.getLogger(__name__)

SITE_ID = "demo"
SAMPLE_REAL_S = 0.1  # how often the demo reads the grid and drives the scenario (real time)
# The reaction time the verdict allows, in simulated seconds, at every speed: generous next to a
# real site (a 1 s meter poll, a control step and a profile round trip take a few seconds; an EV
# has 5 s to follow a lower limit, IEC 61851-1), and far inside what a fuse tolerates.
REACTION_S = 30.0
# Real seconds the loop needs besides two meter polls to act on a reading: control step, OCPP
# round trip, the station's tick and the demo's own sampling, with room for a loaded machine.
LOOP_REAL_S = 0.3


@dataclass(frozen=True)
class DemoOptions:
    """What `csms demo` runs. Durations are simulated seconds; intervals real seconds."""

    stations: int = 3
    sockets: int = 4
    grid_limit_a: float = 25.0
    margin_a: float = 1.0
    speed: float | None = None  # None: the fastest speed the reaction time allows
    duration_s: float = DAY_S
    start_s: float = 16 * 3600.0  # time of day the demo starts (the evening peak comes first)
    poll_interval_s: float = 0.1
    ocpp_port: int = 0
    api_port: int = 0
    database_url: str | None = None

    def __post_init__(self) -> None:
        if self.stations < 1:
            raise ValueError("--stations must be at least 1")
        if not self.stations <= self.sockets <= 2 * self.stations:
            raise ValueError("--sockets must be between the number of stations and twice that")
        for option, value in (
            ("--speed", self.speed),
            ("--duration", self.duration_s),
            ("--poll", self.poll_interval_s),
        ):
            if value is not None and not (math.isfinite(value) and value > 0):  # NaN: never > 0
                raise ValueError(f"{option} must be a positive number, not {value}")
        if self.speed is None:
            fastest = self.max_speed
            object.__setattr__(self, "speed", math.floor(fastest) if fastest >= 1 else fastest)
        elif self.speed > self.max_speed:
            raise ValueError(
                f"--speed {self.speed:g} is too fast for --poll {self.poll_interval_s:g}: the "
                f"site needs about {self.loop_real_s:g} s of real time to react, "
                f"{self.loop_real_s * self.speed:.0f} simulated seconds at that speed, more than "
                f"the {REACTION_S:g} s the verdict allows; use --speed "
                f"{math.floor(self.max_speed)} or less (or a shorter --poll)"
            )
        if not (math.isfinite(self.grid_limit_a) and self.grid_limit_a > self.margin_a):
            raise ValueError("--grid-limit must be a number larger than the margin")
        try:  # the derived settings (times scaled by the speed) must be valid too
            self.settings(502, "sqlite://")
        except ValidationError as exc:
            raise ValueError(_option_error(exc)) from None

    @property
    def loop_real_s(self) -> float:
        """Real seconds the site needs to react: two meter polls plus the loop's own time."""
        return 2 * self.poll_interval_s + LOOP_REAL_S

    @property
    def max_speed(self) -> float:
        """The fastest speed at which the site reacts within `REACTION_S` simulated seconds."""
        return REACTION_S / self.loop_real_s

    @property
    def reaction_s(self) -> float:
        """Simulated seconds the site may take to react (the same at every speed)."""
        return REACTION_S

    @property
    def sim_speed(self) -> float:
        assert self.speed is not None  # resolved in __post_init__
        return self.speed

    @property
    def sample_interval_s(self) -> int:
        """The stations' MeterValueSampleInterval: about one sample per meter poll (simulated
        seconds), as the loop counts an EV's raise as household until a sample shows it."""
        return max(1, round(self.sim_speed * self.poll_interval_s))

    def layout(self) -> list[tuple[str, int]]:
        """Station ids and socket counts: doubles first, then singles."""
        doubles = self.sockets - self.stations
        return [(f"ALF-{n + 1:04d}", 2 if n < doubles else 1) for n in range(self.stations)]

    def settings(self, meter_port: int, database_url: str) -> Settings:
        """The central system's settings for the demo site (times scaled to the speed)."""
        rotations = RECOMMENDED_ROTATIONS
        poll_sim_s = self.poll_interval_s * self.sim_speed
        timeout_s = max(10.0, 4 * poll_sim_s)
        return Settings.model_validate(
            {
                "database_url": database_url,
                "ocpp_host": "127.0.0.1",
                "ocpp_port": self.ocpp_port,
                "api_port": self.api_port,
                "unknown_stations": "accept",
                "response_timeout_s": 10,
                "log_level": "WARNING",
                "sites": [
                    {
                        "id": SITE_ID,
                        "grid_limit_a": self.grid_limit_a,
                        "margin_a": self.margin_a,
                        "safe_current_a": 6,
                        "pv_export_max_a": PV_PEAK_A,  # the meter check allows its export
                        "meter_timeout_s": timeout_s,
                        "meter_lost_s": max(120.0, 3 * timeout_s),
                        "meter": {
                            "type": "simulated",
                            "host": "127.0.0.1",
                            "port": meter_port,
                            "unit": 5,
                            "poll_interval_s": self.poll_interval_s,
                        },
                        "stations": [
                            {"id": sid, "phase_rotation": rotations[n % len(rotations)]}
                            for n, (sid, _) in enumerate(self.layout())
                        ],
                    }
                ],
                # Validity in simulated seconds: about 20 s of real time at this speed.
                "charging": {
                    "profile_validity_s": max(300.0, 20 * self.sim_speed),
                    "control_interval_s": min(0.5, self.poll_interval_s),
                },
            }
        )


# The demo option behind each derived setting, for a one-line error naming the option.
_OPTION_OF = {
    "grid_limit_a": "--grid-limit",
    "poll_interval_s": "--poll",
    "meter_timeout_s": "--speed/--poll",
    "meter_lost_s": "--speed/--poll",
    "profile_validity_s": "--speed",
    "control_interval_s": "--poll",
    "api_port": "--api-port",
    "ocpp_port": "--ocpp-port",
}


def _option_error(error: ValidationError) -> str:
    item = error.errors()[0]
    name = str(item["loc"][-1]) if item["loc"] else ""
    value = item.get("input")
    return f"{_OPTION_OF.get(name, name)}: {name} = {value} is out of range ({item['msg']})"


@dataclass(frozen=True)
class EvResult:
    name: str
    socket: str
    energy_kwh: float
    battery_kwh: float
    plugged_in_s: float | None = None  # simulated seconds after the first midnight


@dataclass(frozen=True)
class DemoSummary:
    """What the closing summary shows (also `--json`)."""

    grid_limit_a: float
    peak_a: tuple[float, float, float]
    seconds_above_limit: float
    seconds_above_beyond_reaction: float
    amp_s_above_limit: float
    amp_s_beyond_reaction: float
    reaction_s: float
    speed: float
    episodes_above: int
    simulated_s: float
    evs: tuple[EvResult, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "grid_limit_a": self.grid_limit_a,
            "peak_a": [round(p, 2) for p in self.peak_a],
            "seconds_above_limit": round(self.seconds_above_limit, 1),
            "seconds_above_beyond_reaction": round(self.seconds_above_beyond_reaction, 1),
            "ampere_seconds_above_limit": round(self.amp_s_above_limit, 1),
            "ampere_seconds_beyond_reaction": round(self.amp_s_beyond_reaction, 1),
            "reaction_s": round(self.reaction_s, 1),
            "speed": self.speed,
            "episodes_above": self.episodes_above,
            "simulated_s": round(self.simulated_s, 1),
            "evs": [
                {
                    "name": e.name,
                    "socket": e.socket,
                    "energy_kwh": round(e.energy_kwh, 2),
                    "plugged_in_s": None if e.plugged_in_s is None else round(e.plugged_in_s, 1),
                }
                for e in self.evs
            ],
        }


@dataclass
class DemoState:
    """Everything the live view shows (updated by the demo, read by the view)."""

    options: DemoOptions
    clock: SimClock
    day0: float
    cs: CentralSystem
    meter: MeterSimulator
    site: SimSite
    tally: GridTally
    visits: list[tuple[DemoEv, float, float]]  # (visit, plug-in at, unplug at) in sim epoch
    plugged: dict[tuple[str, int], tuple[DemoEv, SimEv]] = field(default_factory=dict)
    done: list[tuple[DemoEv, SimEv]] = field(default_factory=list)
    plugged_at: dict[str, float] = field(default_factory=dict)  # EV → s after the first midnight

    @property
    def elapsed_s(self) -> float:
        return self.clock.now() - (self.day0 + self.options.start_s)

    def time_of_day(self) -> float:
        return (self.clock.now() - self.day0) % DAY_S


Frame = Callable[[DemoState], None]


def _visits(options: DemoOptions, day0: float) -> list[tuple[DemoEv, float, float]]:
    sockets = [(sid, c) for sid, count in options.layout() for c in range(1, count + 1)]
    out = []
    start = day0 + options.start_s
    for ev in sessions(sockets):
        arrive, leave = day0 + ev.arrive_s, day0 + ev.leave_s
        if leave <= start:
            arrive, leave = arrive + DAY_S, leave + DAY_S  # it comes on the next day of the run
        out.append((ev, max(arrive, start), leave))  # already plugged in when the demo starts
    return sorted(out, key=lambda v: v[1])


def _drive(state: DemoState) -> None:
    """Bring household, PV and EVs to the scenario's state at the current simulated time."""
    now = state.clock.now()
    tod = state.time_of_day()
    state.meter.set_household(household_a(tod))
    state.meter.set_pv(pv_a(tod))
    for ev, arrive, leave in state.visits:
        key = (ev.station, ev.connector)
        if arrive <= now < leave and key not in state.plugged:
            if any(d is ev for d, _ in state.done):
                continue
            car = SimEv(
                max_current_a=ev.max_current_a,
                phases=ev.phases,
                battery_wh=ev.battery_kwh * 1000.0,
                id_tag=f"DEMO{len(state.done) + len(state.plugged) + 1:04d}",
            )
            state.site.station(ev.station).plug_in(ev.connector, car)
            state.plugged[key] = (ev, car)
            state.plugged_at[ev.name] = now - state.day0
        elif now >= leave and key in state.plugged and state.plugged[key][0] is ev:
            state.site.station(ev.station).unplug(ev.connector)
            state.done.append(state.plugged.pop(key))


def summary_of(state: DemoState) -> DemoSummary:
    evs = [*state.done, *state.plugged.values()]
    return DemoSummary(
        grid_limit_a=state.options.grid_limit_a,
        peak_a=(state.tally.peak_a[0], state.tally.peak_a[1], state.tally.peak_a[2]),
        seconds_above_limit=state.tally.above_s,
        seconds_above_beyond_reaction=state.tally.beyond_reaction_s,
        amp_s_above_limit=state.tally.amp_s,
        amp_s_beyond_reaction=state.tally.beyond_reaction_amp_s,
        reaction_s=state.tally.reaction_s,
        speed=state.options.sim_speed,
        episodes_above=state.tally.episodes,
        simulated_s=min(state.elapsed_s, state.options.duration_s),
        evs=tuple(
            EvResult(
                ev.name,
                f"{ev.station}/{ev.connector}",
                car.charged_wh / 1000,
                ev.battery_kwh,
                state.plugged_at.get(ev.name),
            )
            for ev, car in evs
        ),
    )


async def run_demo(options: DemoOptions, on_frame: Frame | None = None) -> DemoSummary:
    """Run the demo for `options.duration_s` simulated seconds; `on_frame` is called about
    once a second with the live state (the terminal view)."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day0 = today.timestamp()
    # Real speed until the stations have booted and hold their safe defaults (a few seconds of
    # post-boot work paced in real time), then the demo's speed.
    clock = SimClock(speed=1.0, start=day0 + options.start_s, tick_s=1.0)
    site = SimSite(clock)
    meter = MeterSimulator("socomec-e27", unit=5, ev_currents=site.grid_currents, clock=clock.now)
    meter.set_household(household_a(options.start_s))  # the meter's first reading is the day's
    meter.set_pv(pv_a(options.start_s))
    with tempfile.TemporaryDirectory(prefix="csms-demo-") as tmp:
        database_url = options.database_url or f"sqlite:///{Path(tmp) / 'demo.sqlite3'}"
        port = await meter.start("127.0.0.1", 0)
        try:
            settings = options.settings(port, database_url)
            async with running_central_system(settings, clock=clock.now) as cs:
                # About one MeterValues per meter poll: the loop counts an EV's raise as household
                # until a sample shows it drawing more (docs/smart-charging.md).
                sample_s = str(options.sample_interval_s)
                for station_id, count in options.layout():
                    index = len(site.stations)
                    site.add(
                        SimStation(
                            station_id,
                            cs.ocpp_url,
                            sockets=count,
                            phase_connected=RECOMMENDED_ROTATIONS[index % 3],
                            clock=clock,
                            config={"MeterValueSampleInterval": sample_s},
                        )
                    )
                await site.start()
                try:
                    await site.wait_booted(30)
                    await _safe_defaults_installed(cs, options, 30)
                    clock.speed = options.sim_speed
                    tally = GridTally(options.grid_limit_a, options.reaction_s)
                    state = DemoState(
                        options, clock, day0, cs, meter, site, tally, _visits(options, day0)
                    )
                    await _run(state, on_frame)
                    return summary_of(state)
                finally:
                    await site.stop()
        finally:
            await meter.stop()
            await clock.close()


async def _safe_defaults_installed(
    cs: CentralSystem, options: DemoOptions, within_s: float
) -> None:
    """Wait until every station accepted its safe TxDefaultProfile, so the first EVs start at
    the safe value (a real site has had it since the stations first connected)."""

    def installed() -> bool:
        read = cs.charging.read_site(SITE_ID, cs.clock())
        stations = {} if read is None else {s.id: s for s in read.stations}
        return all(
            sid in stations
            and any(
                p.connector_id == 0 and p.purpose == "TxDefaultProfile"
                for p in stations[sid].installed
            )
            for sid, _ in options.layout()
        )

    async with asyncio.timeout(within_s):
        while not installed():  # noqa: ASYNC110 - polling the read model: no event for this
            await asyncio.sleep(0.05)


async def _run(state: DemoState, on_frame: Frame | None) -> None:
    loop = asyncio.get_running_loop()
    last = state.clock.now()
    next_frame = loop.time()
    while state.elapsed_s < state.options.duration_s:
        _drive(state)
        await asyncio.sleep(SAMPLE_REAL_S)
        now = state.clock.now()
        state.tally.add(state.meter.values().current_a, now - last)
        last = now
        if on_frame is not None and loop.time() >= next_frame:
            next_frame = loop.time() + 1.0
            with contextlib.suppress(Exception):  # a drawing glitch must not end the demo
                on_frame(state)
