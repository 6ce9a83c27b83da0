"""deploy/haproxy.cfg in front of real nodes: Debian's HAProxy accepts the file, and — with only
its addresses rewritten — carries simulated stations' websockets to two `csms serve` processes of
one cluster on PostgreSQL (deploy/cluster.toml), spreads them over both, and lets the API answer
through it. SIGTERM to a node (a rolling update) reaches its stations as close code 1012 through
HAProxy and they come back through it on the other node; restarted, the node is taken into
rotation again; SIGKILL to the other node brings every station back to it. After each move the
stations' MeterValues are stored and answered again by the node that now holds them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from csms.api.probes import PROBE_DB_TIMEOUT_S
from csms.settings import Settings, load_settings
from csms.sim.clock import SimClock
from csms.sim.ev import SimEv
from csms.sim.station import SimStation
from csms.storage import open_database
from tests.deploy.manifests import (
    DEPLOY,
    haproxy_binary,
    haproxy_defaults,
    haproxy_duration_s,
    haproxy_for_local_nodes,
    haproxy_sections,
)
from tests.support.ocpp_client import raw_station
from tests.support.ports import listen_port

TOKEN = "haproxy-test-token-" + "x" * 16
START_BOUND_S = 150  # two interpreters starting at once on a loaded 2-core machine
BOUND_S = 60


def test_haproxy_accepts_the_shipped_config() -> None:
    result = subprocess.run(
        [haproxy_binary(), "-c", "-f", str(DEPLOY / "haproxy.cfg")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Outside compose the node names do not resolve (init-addr none keeps them): nothing else.
    warnings = [
        line
        for line in result.stderr.splitlines()
        if "WARNING" in line and "could not resolve address" not in line
    ]
    assert warnings == []


def test_websockets_outlive_the_settings_keepalives_and_refused_connections_are_redispatched():
    cfg = (DEPLOY / "haproxy.cfg").read_text()
    defaults = haproxy_defaults(cfg)
    settings = Settings.model_validate({})
    tunnel = haproxy_duration_s(defaults["timeout tunnel"])
    # An idle station's socket carries a ping every ping_interval_s and a Heartbeat every
    # heartbeat_interval_s: the tunnel's idle timeout must outlast both by far.
    assert tunnel >= 2 * max(settings.heartbeat_interval_s, settings.ping_interval_s)
    # A health check waits longer than /readyz waits for the database.
    assert haproxy_duration_s(defaults["timeout check"]) > PROBE_DB_TIMEOUT_S
    assert int(defaults["retries"]) >= 1 and defaults["option redispatch"] == "1"
    for backend in ("csms_ocpp", "csms_api"):
        checks = haproxy_sections(cfg)[f"backend {backend}"]
        assert "option httpchk" in checks and "http-check send meth GET uri /readyz" in checks
        assert "http-check expect status 200" in checks


@dataclass
class Node:
    name: str
    process: asyncio.subprocess.Process
    ocpp_port: int
    api_port: int
    log: Path
    database_url: str


async def start_node(
    name: str, database_url: str, log: Path, ports: tuple[int, int] = (0, 0)
) -> Node:
    """`csms serve` with deploy/cluster.toml as node `name`, on loopback and the (OCPP, API)
    `ports` (0: free ones)."""
    with log.open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "csms.cli",
            "serve",
            "--config",
            str(DEPLOY / "cluster.toml"),
            "--database-url",
            database_url,
            "--ocpp-host",
            "127.0.0.1",
            "--ocpp-port",
            str(ports[0]),
            "--api-host",
            "127.0.0.1",
            "--api-port",
            str(ports[1]),
            "--unknown-stations",
            "accept",
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env={
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                "CSMS_NODE_ID": name,
                "CSMS_API_TOKEN": TOKEN,
            },
        )
    assert process.stdout is not None
    printed = ""
    async with asyncio.timeout(START_BOUND_S):
        while "API: " not in printed:
            line = await process.stdout.readline()
            assert line, f"{name} exited: {tail(log)}"
            printed += line.decode()
    ocpp = re.search(r"ws://127\.0\.0\.1:(\d+)/ocpp", printed)
    api = re.search(r"API: http://127\.0\.0\.1:(\d+)", printed)
    assert ocpp and api, printed
    return Node(name, process, int(ocpp[1]), int(api[1]), log, database_url)


async def stop(process: asyncio.subprocess.Process | None, sig: int = signal.SIGTERM) -> None:
    if process is None or process.returncode is not None:
        return
    process.send_signal(sig)
    try:
        await asyncio.wait_for(process.wait(), BOUND_S)
    except TimeoutError:
        process.kill()
        await process.wait()


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def servers(stats: Path, backend: str) -> dict[str, tuple[str, int]]:
    """HAProxy's `show stat` for `backend`: server → (status, current sessions)."""
    try:
        reader, writer = await asyncio.open_unix_connection(str(stats))
    except (FileNotFoundError, ConnectionRefusedError):
        return {}  # HAProxy is still starting
    writer.write(b"show stat\n")
    await writer.drain()
    text = (await reader.read()).decode()
    writer.close()
    lines = text.splitlines()
    header = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
    return {
        row["svname"]: (row["status"], int(row["scur"]))
        for row in rows
        if row["pxname"] == backend and row["svname"] not in ("FRONTEND", "BACKEND")
    }


async def until(check: Callable[[], Awaitable[bool]], within_s: float = BOUND_S) -> None:
    """`eventually` for a condition that needs I/O to read (HAProxy's stats, the API)."""
    async with asyncio.timeout(within_s):
        while not await check():  # noqa: ASYNC110 - polling another party's state
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def running(*processes: asyncio.subprocess.Process) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await asyncio.gather(*(stop(p) for p in processes))


@pytest.mark.postgres
@pytest.mark.timeout(400)
async def test_haproxy_carries_stations_over_a_rolling_restart_and_a_node_death(
    postgres_url: str, tmp_path: Path
) -> None:
    haproxy = haproxy_binary()
    # The schema is migrated once before the nodes start (what one node under the migration
    # lock does in a real cluster), so neither start-up waits on the other.
    db = open_database(postgres_url)
    await db.open()
    await db.close()
    started = await asyncio.gather(
        *(start_node(n, postgres_url, tmp_path / f"{n}.log") for n in ("csms-1", "csms-2"))
    )
    nodes = {node.name: node for node in started}
    try:
        await _through_haproxy(haproxy, nodes, tmp_path)
    finally:  # `nodes` holds the restarted node by then
        await asyncio.gather(*(stop(node.process) for node in nodes.values()))


async def _through_haproxy(haproxy: str, nodes: dict[str, Node], tmp: Path) -> None:
    binds = {"ocpp": listen_port(), "api": listen_port()}
    # The nodes' ports in the shipped settings (what haproxy.cfg names) → where they listen here.
    url = nodes["csms-1"].database_url
    shipped = load_settings(DEPLOY / "cluster.toml", env={}, api_token=TOKEN, database_url=url)
    ports = {}
    for node in nodes.values():
        ports[(node.name, shipped.ocpp_port)] = node.ocpp_port
        ports[(node.name, shipped.api_port)] = node.api_port
    stats = tmp / "haproxy.sock"
    config = tmp / "haproxy.cfg"
    config.write_text(
        haproxy_for_local_nodes((DEPLOY / "haproxy.cfg").read_text(), binds, ports, stats)
    )
    with (tmp / "haproxy.log").open("wb") as log:
        proxy = await asyncio.create_subprocess_exec(
            haproxy, "-db", "-f", str(config), stdout=log, stderr=subprocess.STDOUT
        )
    async with running(proxy):

        async def all_up() -> bool:
            for backend in ("csms_ocpp", "csms_api"):
                state = await servers(stats, backend)
                if sorted(state) != sorted(nodes) or any(s != "UP" for s, _ in state.values()):
                    return False
            return True

        try:
            await until(all_up)
        except TimeoutError:
            pytest.fail(f"HAProxy did not put both nodes in rotation: {tail(tmp / 'haproxy.log')}")
        api = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{binds['api']}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        )
        clock = SimClock()
        url = f"ws://127.0.0.1:{binds['ocpp']}/ocpp"
        stations = [
            SimStation(f"HAP-{i}", url, clock=clock, config={"MeterValueSampleInterval": "1"})
            for i in range(1, 5)
        ]
        rig = Rig(nodes, tmp, stats, api, stations, {})
        try:
            await _rolling_then_kill(rig, url)
        finally:
            await api.aclose()
            await asyncio.gather(*(s.stop() for s in stations))
            await clock.close()


@dataclass
class Rig:
    """Two nodes behind HAProxy, its stats socket, the API through it, simulated stations."""

    nodes: dict[str, Node]
    tmp: Path
    stats: Path
    api: httpx.AsyncClient
    stations: list[SimStation]
    transactions: dict[str, int]

    async def held(self) -> dict[str, int]:
        """Websockets HAProxy holds open to each node."""
        return {name: scur for name, (_, scur) in (await servers(self.stats, "csms_ocpp")).items()}

    async def in_rotation(self, name: str) -> bool:
        ocpp, api = await servers(self.stats, "csms_ocpp"), await servers(self.stats, "csms_api")
        return ocpp.get(name, ("",))[0] == "UP" and api.get(name, ("",))[0] == "UP"

    async def meter_values(self, station_id: str) -> int:
        tx = self.transactions[station_id]
        answer = await self.api.get(f"/api/v1/transactions/{tx}/meter-values")
        assert answer.status_code == 200, answer.text
        return len(answer.json())

    async def metered_beyond(self, counts: dict[str, int]) -> bool:
        return all([await self.meter_values(sid) > n for sid, n in counts.items()])

    async def move_off(self, name: str, sig: int) -> list[str]:
        """Stop node `name` with `sig`; once every station is booted again, all on the other
        node, return the ids of those that reconnected (after checking that the other node
        serves them: their MeterValues are stored again and its own API has them online)."""
        other = next(n for n in self.nodes if n != name)
        connects = {s.station_id: s.connects for s in self.stations}
        before = {s.station_id: await self.meter_values(s.station_id) for s in self.stations}
        await stop(self.nodes[name].process, sig)

        async def all_on_other() -> bool:
            held = await self.held()
            return held[other] == len(self.stations) and all(s.booted for s in self.stations)

        await until(all_on_other)
        moved = [s.station_id for s in self.stations if s.connects > connects[s.station_id]]
        await until(lambda: self.metered_beyond({sid: before[sid] for sid in moved}))
        node = self.nodes[other]
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{node.api_port}", headers=self.api.headers
        ) as direct:
            for sid in moved:
                shown = (await direct.get(f"/api/v1/stations/{sid}")).json()
                assert shown["online"] is True, shown
        return moved


async def _rolling_then_kill(rig: Rig, url: str) -> None:
    for station in rig.stations:  # one by one: leastconn alternates between the nodes
        await station.start()
        await station.wait_booted(BOUND_S)
    held = await rig.held()
    assert sorted(held.values()) == [2, 2], held
    for station in rig.stations:
        station.plug_in(1, SimEv(id_tag="HAPTAG"))
        rig.transactions[station.station_id] = await station.wait_transaction(1, BOUND_S)
    await until(lambda: rig.metered_beyond({sid: 1 for sid in rig.transactions}))
    refused = await rig.api.get("/api/v1/stations", headers={"Authorization": ""})
    assert refused.status_code == 401  # the API behind HAProxy, with its token check

    # A rolling update: SIGTERM to one node. Its stations see close code 1012 (service
    # restart) through HAProxy and come back through it on the other node.
    async with raw_station(url, "HAP-RAW") as raw:
        boot = {"chargePointVendor": "Alfen BV", "chargePointModel": "NG910-60023"}
        assert (await raw.send_call("BootNotification", boot))[0] == 3
        now = await rig.held()
        stopping = next(name for name in now if now[name] == held[name] + 1)  # holds HAP-RAW
        moved = await rig.move_off(stopping, signal.SIGTERM)
        await asyncio.wait_for(raw.ws.wait_closed(), BOUND_S)
        assert raw.ws.close_code == 1012
    assert len(moved) == held[stopping]
    assert rig.nodes[stopping].process.returncode == 0, tail(rig.nodes[stopping].log)

    # The node comes back on its ports and HAProxy takes it into rotation again.
    old = rig.nodes[stopping]
    rig.nodes[stopping] = await start_node(
        stopping, old.database_url, old.log, (old.ocpp_port, old.api_port)
    )
    await until(lambda: rig.in_rotation(stopping))

    # SIGKILL to the other node, which now holds every station: no goodbye, its sockets just
    # die; HAProxy redispatches the reconnects to the restarted node.
    killed = next(name for name in rig.nodes if name != stopping)
    moved = await rig.move_off(killed, signal.SIGKILL)
    assert sorted(moved) == sorted(rig.transactions)

    async def killed_is_down() -> bool:
        return (await servers(rig.stats, "csms_api"))[killed][0].startswith("DOWN")

    await until(killed_is_down)
    listed = await rig.api.get("/api/v1/stations")
    assert listed.status_code == 200
    assert {s["id"] for s in listed.json()} >= set(rig.transactions)
