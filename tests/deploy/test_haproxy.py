"""deploy/haproxy.cfg in front of real nodes: Debian's HAProxy accepts the file, and — with only
its addresses rewritten — carries simulated stations' websockets to two `csms serve` processes
of one cluster on PostgreSQL (deploy/cluster.toml), spreads them over both, lets the API answer
through it, and, when one node is killed, brings that node's stations back through it to the
other node, where their MeterValues are stored and answered again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from csms.api.probes import PROBE_DB_TIMEOUT_S
from csms.settings import Settings
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


async def start_node(name: str, database_url: str, log: Path) -> Node:
    """`csms serve` with deploy/cluster.toml, on loopback and free ports, as node `name`."""
    with log.open("wb") as stderr:
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
            "0",
            "--api-host",
            "127.0.0.1",
            "--api-port",
            "0",
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
    return Node(name, process, int(ocpp[1]), int(api[1]), log)


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
async def test_haproxy_carries_stations_to_two_nodes_and_over_a_node_death(
    postgres_url: str, tmp_path: Path
) -> None:
    haproxy = haproxy_binary()
    # The schema is migrated once before the nodes start (what one node under the migration
    # lock does in a real cluster), so neither start-up waits on the other.
    db = open_database(postgres_url)
    await db.open()
    await db.close()
    nodes = await asyncio.gather(
        *(start_node(n, postgres_url, tmp_path / f"{n}.log") for n in ("csms-1", "csms-2"))
    )
    async with running(*(n.process for n in nodes)):
        await _through_haproxy(haproxy, {n.name: n for n in nodes}, tmp_path)


async def _through_haproxy(haproxy: str, nodes: dict[str, Node], tmp: Path) -> None:
    binds = {"ocpp": free_port(), "api": free_port()}
    ports = {}
    for node in nodes.values():
        ports[(node.name, 9000)] = node.ocpp_port
        ports[(node.name, 8080)] = node.api_port
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
        await _stations_through(binds, nodes, stats)


async def _stations_through(binds: dict[str, int], nodes: dict[str, Node], stats: Path) -> None:
    clock = SimClock()
    url = f"ws://127.0.0.1:{binds['ocpp']}/ocpp"
    stations = [
        SimStation(f"HAP-{i}", url, clock=clock, config={"MeterValueSampleInterval": "1"})
        for i in range(1, 5)
    ]
    api = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{binds['api']}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    try:
        for station in stations:  # one by one: leastconn alternates between the nodes
            await station.start()
            await station.wait_booted(BOUND_S)
        held = {name: scur for name, (_, scur) in (await servers(stats, "csms_ocpp")).items()}
        assert sum(held.values()) == 4 and min(held.values()) >= 1, held

        for station in stations:
            station.plug_in(1, SimEv(id_tag="HAPTAG"))
        transactions = {s.station_id: await s.wait_transaction(1, BOUND_S) for s in stations}

        async def values(tx: int) -> int:
            answer = await api.get(f"/api/v1/transactions/{tx}/meter-values")
            assert answer.status_code == 200, answer.text
            return len(answer.json())

        async def all_metered(at_least: dict[str, int]) -> bool:
            counts = [await values(transactions[sid]) for sid in at_least]
            return all(c > at_least[sid] for c, sid in zip(counts, at_least, strict=True))

        await until(lambda: all_metered({sid: 1 for sid in transactions}))
        refused = await api.get("/api/v1/stations", headers={"Authorization": ""})
        assert refused.status_code == 401

        # SIGKILL one node: no goodbye, its sockets just die.
        killed = "csms-1"
        connects = {s.station_id: s.connects for s in stations}
        before = {sid: await values(tx) for sid, tx in transactions.items()}
        await stop(nodes[killed].process, signal.SIGKILL)

        async def all_on_survivor() -> bool:
            state = await servers(stats, "csms_ocpp")
            return state["csms-2"][1] == 4 and all(s.booted for s in stations)

        await until(all_on_survivor)
        moved = [s.station_id for s in stations if s.connects > connects[s.station_id]]
        assert len(moved) == held[killed], (moved, held)
        # Their MeterValues are stored by the surviving node, and the API still answers.
        await until(lambda: all_metered({sid: before[sid] for sid in moved}))
        survivor = nodes["csms-2"]
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{survivor.api_port}", headers=api.headers
        ) as direct:
            for sid in moved:
                shown = (await direct.get(f"/api/v1/stations/{sid}")).json()
                assert shown["online"] is True, shown
        listed = await api.get("/api/v1/stations")
        assert listed.status_code == 200
        assert {s["id"] for s in listed.json()} >= set(transactions)

        async def killed_is_down() -> bool:
            return (await servers(stats, "csms_api"))[killed][0].startswith("DOWN")

        await until(killed_is_down)
    finally:
        await api.aclose()
        await asyncio.gather(*(s.stop() for s in stations))
        await clock.close()
