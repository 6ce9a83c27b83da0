"""A local cluster of real `csms serve` processes on one PostgreSQL schema (tests, benchmarks).

Stable API (other test modules build on it; extend, do not change):

    async with local_cluster(postgres_url, tmp_path, nodes=3, node_lease_s=2) as cluster:
        cluster.nodes[0].api_url            # "http://127.0.0.1:PORT"
        cluster.nodes[0].ocpp_url           # "ws://127.0.0.1:PORT/ocpp" (append /{stationId})
        cluster.balancer_url                # "ws://127.0.0.1:PORT/ocpp": a round-robin TCP
                                            #   balancer over the live nodes (like HAProxy)
        await cluster.nodes[1].kill()       # SIGKILL; returns the exit code
        await cluster.nodes[1].terminate()  # SIGTERM, waits for the exit; returns the exit code
        await cluster.nodes[1].start()      # (re)start on the same ports, waits for /readyz
        await cluster.nodes[1].readyz()     # (status code, JSON body) of GET /readyz
        await cluster.nodes[1].api("GET", "/api/v1/stations")  # (status, JSON), with the token
        cluster.nodes[1].node_id            # the node's id, as its /readyz names it
        cluster.logs()                      # every node's stderr so far (also printed when the
                                            #   block fails)
        await node.spawn(); await node.wait_ready()  # start without waiting, wait later

    stations = await start_stations(cluster.balancer_url, "ST-", 50, clock)  # booted
    await start_charging(stations)                    # a transaction on each
    rows = await query(postgres_url, "SELECT …")      # a query in the test's schema
    lost = await lost_messages(postgres_url, {s.station_id: s.frames for s in stations})
        # what SimStation(record_frames=True) stations were answered for (StartTransaction,
        # MeterValues) but the database lacks: lost["starts"], lost["meters"] (empty: none)

`local_cluster(...)` arguments: `nodes` (how many processes), `node_lease_s` and `site_takeover_s`
(the `[cluster]` settings; short leases keep failover tests fast), `settings` (more top-level
settings, e.g. `{"response_timeout_s": 10}`), `extra_toml` (TOML text appended to the file, e.g.
`[[sites]]` tables), `ready_within_s` (how long to wait for each node's /readyz).

Each node gets its own OCPP and API port (chosen once, kept across restarts so a restarted node
answers where it did), one TOML settings file shared by all nodes except for the ports (passed
on the command line), `cluster.enabled = true`, `unknown_stations = "accept"`, an API token
(`API_TOKEN`) and JSON logs appended to `node-N.log` under `tmp_path`. Nodes start together (as
a deployment would start them) and the block waits until every node's `/readyz` answers 200.
Leaving the block stops every node (SIGTERM, then SIGKILL after a bound) and the balancer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from csms.sim.clock import SimClock
from csms.sim.ev import SimEv
from csms.sim.station import SimStation
from tests.support.balancer import Balancer
from tests.support.ports import listen_port

API_TOKEN = "cluster-test-token"
STOP_WITHIN_S = 30.0
"""How long a node may take to exit after SIGTERM before the harness kills it."""


def free_port() -> int:
    """A port of 127.0.0.1 for a node, free now and outside the ephemeral range (a node restarts
    on the same ports; see tests/support/ports.py)."""
    return listen_port()


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def settings_toml(
    database_url: str,
    node_lease_s: float,
    site_takeover_s: float,
    settings: dict[str, Any] | None = None,
    extra_toml: str = "",
) -> str:
    """The settings file every node of a test cluster reads."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "ocpp_host": "127.0.0.1",
        "api_host": "127.0.0.1",
        "api_token": API_TOKEN,
        "unknown_stations": "accept",
        "response_timeout_s": 10,
        "log_format": "json",
    }
    values.update(settings or {})
    lines = [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    lines += [
        "",
        "[cluster]",
        "enabled = true",
        f"node_lease_s = {node_lease_s!r}",
        f"site_takeover_s = {site_takeover_s!r}",
        "",
        extra_toml,
    ]
    return "\n".join(lines) + "\n"


class ClusterNode:
    """One `csms serve` process of the cluster (restartable on the same ports)."""

    def __init__(self, index: int, config: Path, log_path: Path, ready_within_s: float) -> None:
        self.index = index
        self.config = config
        self.log_path = log_path
        self.ocpp_port = free_port()
        self.api_port = free_port()
        self.ready_within_s = ready_within_s
        self.process: asyncio.subprocess.Process | None = None
        self.node_id: str | None = None
        self.starts = 0
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """An HTTP client for this node's API, with the token (kept open: building one costs
        ~50 ms of certificate loading)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.api_url,
                timeout=30,
                headers={"Authorization": f"Bearer {API_TOKEN}"},
                verify=False,
            )
        return self._client

    async def close_client(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.ocpp_port}/ocpp"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def spawn(self) -> None:
        """Start the process without waiting for it to be ready."""
        assert not self.running, f"node {self.index} is already running"
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts} of node {self.index} ---\n".encode())
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "csms.cli",
                "serve",
                "--config",
                str(self.config),
                "--ocpp-port",
                str(self.ocpp_port),
                "--api-port",
                str(self.api_port),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    async def wait_ready(self) -> None:
        """Until /readyz answers 200 (its body names the node id); fails if the process ends."""
        deadline = time.monotonic() + self.ready_within_s
        while True:
            if not self.running:
                raise RuntimeError(f"node {self.index} exited before it was ready:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                status, body = await self.readyz()
                if status == 200:
                    self.node_id = str(body.get("node_id"))
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"node {self.index} not ready:\n{self.log()}")
            await asyncio.sleep(0.1)

    async def start(self) -> None:
        """Start (or restart) the node and wait until it is ready."""
        await self.spawn()
        await self.wait_ready()

    async def kill(self) -> int:
        """SIGKILL: the node dies without closing anything (its lease simply lapses)."""
        return await self._signal(signal.SIGKILL)

    async def terminate(self) -> int:
        """SIGTERM: the node shuts down in order (stations closed with 1012)."""
        return await self._signal(signal.SIGTERM)

    async def _signal(self, signum: int) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signum)
        try:
            return await asyncio.wait_for(self.process.wait(), STOP_WITHIN_S)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise

    async def readyz(self) -> tuple[int, dict[str, Any]]:
        response = await self.client.get("/readyz", timeout=5)
        return response.status_code, response.json()

    async def api(
        self, method: str, path: str, json_body: Any = None, timeout_s: float = 30
    ) -> tuple[int, Any]:
        """One API request to this node with the token: (status code, decoded JSON or text)."""
        response = await self.client.request(method, path, json=json_body, timeout=timeout_s)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class LocalCluster:
    """N nodes, their settings file and logs, and the balancer in front."""

    def __init__(
        self,
        database_url: str,
        directory: Path,
        nodes: int,
        node_lease_s: float,
        site_takeover_s: float,
        settings: dict[str, Any] | None,
        extra_toml: str,
        ready_within_s: float,
    ) -> None:
        self.directory = directory
        self.config = directory / "cluster.toml"
        self.config.write_text(
            settings_toml(database_url, node_lease_s, site_takeover_s, settings, extra_toml)
        )
        self.nodes = [
            ClusterNode(i, self.config, directory / f"node-{i}.log", ready_within_s)
            for i in range(nodes)
        ]
        self.balancer = Balancer(self.nodes)

    @property
    def balancer_url(self) -> str:
        return f"ws://127.0.0.1:{self.balancer.port}/ocpp"

    async def start(self) -> None:
        await self.balancer.start()
        for node in self.nodes:
            await node.spawn()
        await asyncio.gather(*(node.wait_ready() for node in self.nodes))

    async def stop(self) -> None:
        await self.balancer.stop()
        stops = [node.terminate() for node in self.nodes if node.running]
        await asyncio.gather(*stops, return_exceptions=True)
        for node in self.nodes:
            await node.close_client()

    def logs(self) -> str:
        return "\n".join(f"===== node {n.index} =====\n{n.log()}" for n in self.nodes)


@contextlib.asynccontextmanager
async def local_cluster(
    database_url: str,
    directory: Path,
    *,
    nodes: int = 3,
    node_lease_s: float = 2.0,
    site_takeover_s: float = 4.0,
    settings: dict[str, Any] | None = None,
    extra_toml: str = "",
    ready_within_s: float = 60.0,
) -> AsyncIterator[LocalCluster]:
    """Run a cluster for the duration of the block; its logs are printed if the block fails."""
    cluster = LocalCluster(
        database_url,
        directory,
        nodes,
        node_lease_s,
        site_takeover_s,
        settings,
        extra_toml,
        ready_within_s,
    )
    try:
        await cluster.start()
        yield cluster
    except BaseException:
        print(cluster.logs())  # shown by pytest for a failed test
        raise
    finally:
        await cluster.stop()


# -- what the stations were answered, and whether the database has it ------------------------------
async def query(database_url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of one query in the test's schema (`?schema=` of `database_url`)."""
    import asyncpg

    base, _, schema = database_url.partition("?schema=")
    settings = {"search_path": schema} if schema else None
    conn = await asyncpg.connect(base, server_settings=settings)
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


def acknowledged(frames_by_station: dict[str, list[tuple[str, str]]]) -> dict[str, set[Any]]:
    """From stations' recorded frames (`SimStation(record_frames=True).frames`): the
    StartTransactions answered (station, transaction id) and the MeterValues answered
    (station, connector, timestamp of each sampled value set)."""
    starts: set[tuple[str, int]] = set()
    meters: set[tuple[str, int, str]] = set()
    for station_id, frames in frames_by_station.items():
        calls: dict[str, tuple[str, dict[str, Any]]] = {}
        for direction, text in frames:
            frame = json.loads(text)
            if direction == "out" and frame[0] == 2:
                calls[frame[1]] = (frame[2], frame[3])
            elif direction == "in" and frame[0] == 3 and frame[1] in calls:
                action, payload = calls.pop(frame[1])
                if action == "StartTransaction":
                    starts.add((station_id, int(frame[2]["transactionId"])))
                elif action == "MeterValues":
                    for value in payload["meterValue"]:
                        meters.add((station_id, int(payload["connectorId"]), value["timestamp"]))
    return {"starts": starts, "meters": meters}


async def lost_messages(
    database_url: str, frames_by_station: dict[str, list[tuple[str, str]]]
) -> dict[str, set[Any]]:
    """What the stations were answered for but the database does not hold (empty sets: none)."""
    acked = acknowledged(frames_by_station)
    rows = await query(database_url, "SELECT station_id, id FROM transactions")
    stored_starts = {(r["station_id"], int(r["id"])) for r in rows}
    rows = await query(
        database_url, "SELECT DISTINCT station_id, connector_id, sampled_at FROM meter_values"
    )
    stored_meters = {(r["station_id"], int(r["connector_id"]), r["sampled_at"]) for r in rows}
    return {
        "starts": acked["starts"] - stored_starts,
        "meters": acked["meters"] - stored_meters,
        "acknowledged_starts": acked["starts"],
        "acknowledged_meters": acked["meters"],
    }


async def start_stations(
    url: str, prefix: str, count: int, clock: SimClock, meter_interval_s: int = 2
) -> list[SimStation]:
    """`count` simulated stations on `url` (e.g. the balancer), recording their frames (for
    `lost_messages`), booted (stopped again if they do not all boot)."""
    stations = [
        SimStation(
            f"{prefix}{n:03d}",
            url,
            clock=clock,
            record_frames=True,
            config={"MeterValueSampleInterval": str(meter_interval_s)},
        )
        for n in range(count)
    ]
    for station in stations:
        await station.start()
    try:
        await asyncio.gather(*(s.wait_booted(within_s=60) for s in stations))
    except BaseException:
        await asyncio.gather(*(s.stop() for s in stations))
        raise
    return stations


async def start_charging(stations: list[SimStation]) -> None:
    """Plug an EV with an id tag into connector 1 of each; until every transaction started."""
    for station in stations:
        station.plug_in(1, SimEv(max_current_a=16, phases=3, id_tag="TAG-1"))
    deadline = time.monotonic() + 60
    while not all(s.transaction_id(1) for s in stations):
        if time.monotonic() > deadline:
            raise TimeoutError("not every station started a transaction")
        await asyncio.sleep(0.05)
