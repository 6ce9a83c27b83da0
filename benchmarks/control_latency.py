"""Control latency: time from a grid-meter step to the last new limit accepted by the stations.

`csms serve` runs in its own process with one site: a simulated Modbus meter (this process,
household load only: `meter_includes_ev = false`) polled every second, and N light-weight
stations with C connectors each (this process; plain websockets, one session per connector, they
answer SetChargingProfile/GetCompositeSchedule/GetConfiguration and record when each new limit
arrived). Each step changes the household load so every connector needs a new limit (alternately
lower and higher); the figure per connector is the time from the step to the station accepting
its new limit.

    .venv/bin/python benchmarks/control_latency.py [--stations 250] [--connectors 4] [--steps 6]

Target: p99 < 2 s with a 1 s poll interval (250 stations, 1,000 connectors).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import websockets

from csms.sim.meter import MeterSimulator
from csms.sim.meter_script import LoadScript

CONFIG_KEYS = {
    "ChargeProfileMaxStackLevel": "15",
    "ChargingScheduleMaxPeriods": "100",
    "MaxChargingProfilesInstalled": "45",
    "ChargingScheduleAllowedChargingRateUnit": "Current",
    "GetConfigurationMaxKeys": "35",
}
LEVELS = (9.0, 6.5)  # A per connector; the steps alternate between them
DEADBAND_A = 1.0
HOUSEHOLD_A = 100.0  # the central system's default: a limit within it counts as arrived


class Station:
    """A minimal OCPP 1.6J station with several connectors, each charging one EV."""

    def __init__(self, station_id: str, connectors: int) -> None:
        self.id = station_id
        self.connectors = connectors
        self.limits: dict[int, float] = {}
        self.accepted_at: dict[int, float] = {}  # connector → when its latest limit arrived
        self._uid = 0
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self.ws: Any = None

    async def _call(self, action: str, payload: dict[str, Any]) -> Any:
        self._uid += 1
        uid = f"{self.id}-{self._uid}"
        future = asyncio.get_running_loop().create_future()
        self._pending[uid] = future
        await self.ws.send(json.dumps([2, uid, action, payload]))
        return await asyncio.wait_for(future, 30)

    def _answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "SetChargingProfile":
            connector = payload["connectorId"]
            period = payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"]
            if connector > 0:
                self.limits[connector] = float(period[0]["limit"])
                self.accepted_at[connector] = time.monotonic()
            return {"status": "Accepted"}
        if action == "GetCompositeSchedule":
            connector = payload["connectorId"]
            limit = self.limits.get(connector, 0.0)
            return {
                "status": "Accepted",
                "connectorId": connector,
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
                },
            }
        if action == "GetConfiguration":
            values = CONFIG_KEYS | {"NumberOfConnectors": str(self.connectors)}
            keys = payload.get("key") or list(values)
            return {
                "configurationKey": [
                    {"key": k, "value": values[k], "readonly": True} for k in keys if k in values
                ],
                "unknownKey": [k for k in keys if k not in values],
            }
        return {"status": "Accepted"}

    async def run(self, url: str, ready: asyncio.Event) -> None:
        async with websockets.connect(
            f"{url}/{self.id}", subprotocols=["ocpp1.6"], compression=None, max_queue=None
        ) as ws:
            self.ws = ws
            reader = asyncio.create_task(self._read())
            try:
                now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                boot = {"chargePointVendor": "Bench", "chargePointModel": "X4"}
                await self._call("BootNotification", boot)
                for c in range(1, self.connectors + 1):
                    status = {"connectorId": c, "errorCode": "NoError", "status": "Charging"}
                    await self._call("StatusNotification", status)
                    start = {"connectorId": c, "idTag": "BENCH", "meterStart": 0, "timestamp": now}
                    await self._call("StartTransaction", start)
                ready.set()
                await reader
            finally:
                reader.cancel()

    async def _read(self) -> None:
        async for message in self.ws:
            frame = json.loads(message)
            if frame[0] == 2:
                answer = self._answer(frame[2], frame[3])
                await self.ws.send(json.dumps([3, frame[1], answer]))
            elif frame[0] in (3, 4) and frame[1] in self._pending:
                future = self._pending.pop(frame[1])
                if not future.done():
                    future.set_result(frame[2] if frame[0] == 3 else None)


def settings_toml(db: Path, meter_port: int, ids: list[str], poll_s: float, grid_a: float) -> str:
    stations = "\n".join(f'[[sites.stations]]\nid = "{i}"\n' for i in ids)
    return f"""
database_url = "sqlite:///{db}"
ocpp_host = "127.0.0.1"
ocpp_port = 0
api_port = 0
unknown_stations = "accept"
log_level = "WARNING"

[charging]
control_interval_s = 1.0
# Delivery latency alone: the flash-wear bound (default 30 s between rewrites of a connector)
# would hold back every other step here on purpose.
min_rewrite_interval_s = 0

[[sites]]
id = "bench"
grid_limit_a = {grid_a}
margin_a = 1
meter_includes_ev = false
ramp_a_per_s = 1000
meter_timeout_s = 10
[sites.meter]
type = "simulated"
host = "127.0.0.1"
port = {meter_port}
unit = 5
poll_interval_s = {poll_s}
{stations}
"""


async def spawn(config: Path) -> tuple[asyncio.subprocess.Process, str]:
    errors = config.with_suffix(".stderr")
    with errors.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "csms.cli", "serve", "--config", str(config),
            stdout=asyncio.subprocess.PIPE, stderr=stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    match = re.search(r"(ws://\S+)/\{stationId\}", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"server did not start: {errors.read_text()[-500:]}")
    return proc, match.group(1)


async def settle(
    stations: list[Station], expected: float, since: float, within_s: float
) -> float | None:
    """Wait until every connector accepted a limit within the deadband of `expected` after
    `since`; returns when the last one arrived (monotonic), None on timeout."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if all(
            abs(s.limits.get(c, -1.0) - expected) <= DEADBAND_A and s.accepted_at.get(c, 0) > since
            for s in stations
            for c in range(1, s.connectors + 1)
        ):
            return max(max(s.accepted_at.values()) for s in stations)
        await asyncio.sleep(0.01)
    return None


async def run(n_stations: int, connectors: int, steps: int, poll_s: float) -> None:
    total = n_stations * connectors
    grid_a = HOUSEHOLD_A + LEVELS[0] * total + 1.0  # margin 1 A
    meter = MeterSimulator("socomec-e27", unit=5, load=LoadScript(HOUSEHOLD_A))
    port = await meter.start("127.0.0.1", 0)
    ids = [f"BENCH-{i:04d}" for i in range(1, n_stations + 1)]
    stations = [Station(i, connectors) for i in ids]
    latencies: list[float] = []
    lasts: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.toml"
        config.write_text(settings_toml(Path(tmp) / "bench.sqlite3", port, ids, poll_s, grid_a))
        proc, url = await spawn(config)
        tasks = []
        try:
            readies = [asyncio.Event() for _ in stations]
            for station, ready in zip(stations, readies, strict=True):
                tasks.append(asyncio.create_task(station.run(url, ready)))
                await asyncio.sleep(0.005)  # a realistic trickle, not one burst
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
            if await settle(stations, LEVELS[0], 0.0, 120) is None:
                seen = sorted({v for s in stations for v in s.limits.values()})
                raise RuntimeError(f"the first limits never arrived (limits seen: {seen})")
            await asyncio.sleep(3)  # let post-boot snapshots and verifications pass
            for step in range(steps):
                target = LEVELS[(step + 1) % 2]
                await asyncio.sleep(1.5 + (step % 3) * 0.37)  # steps at varied poll phases
                meter.set_household(grid_a - 1.0 - target * total)
                stepped = time.monotonic()
                last = await settle(stations, target, stepped, 30)
                if last is None:
                    raise RuntimeError(f"step {step + 1}: not every connector got {target} A")
                lasts.append(last - stepped)
                latencies.extend(t - stepped for s in stations for t in s.accepted_at.values())
        finally:
            for task in tasks:
                task.cancel()
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
            await meter.stop()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(f"stations: {n_stations}, connectors: {total}, poll interval {poll_s:g} s, {steps} steps")
    print(f"{'':<32}{'p50 s':>8}{'p99 s':>8}{'max s':>8}")
    print(
        f"{'meter step → limit accepted':<32}{statistics.median(latencies):>8.2f}"
        f"{p99:>8.2f}{latencies[-1]:>8.2f}"
    )
    print(
        f"{'meter step → last connector':<32}{statistics.median(lasts):>8.2f}"
        f"{'':>8}{max(lasts):>8.2f}"
    )
    print(f"target p99 < 2 s: {'met' if p99 < 2.0 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=250)
    parser.add_argument("--connectors", type=int, default=4)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--poll", type=float, default=1.0, help="meter poll interval (s)")
    args = parser.parse_args()
    asyncio.run(run(args.stations, args.connectors, args.steps, args.poll))


if __name__ == "__main__":
    main()
