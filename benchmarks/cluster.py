"""Cluster scaling and failover: 1, 2 and 3 local `csms serve` nodes on one PostgreSQL database.

For each cluster size: a fresh schema, the nodes (tests/support/cluster.py), `--stations` light
stations (light_station.py) spread round-robin over the nodes and over `--sites` sites (no meter;
each site's loop runs on the node leading it, which alone gets the MeterValues of its stations
from the other nodes), the time until all are connected and booted, then every station sends
MeterValues in a closed loop (next one when the previous is answered) for `--seconds`: answered
MeterValues/s, and the rows the database holds afterwards per second (stored/s; every answered
message must be stored), and the events each node sent to others, per MeterValues answered. The
1-node run is the reference the others print beside.

Then the failover time with 3 nodes: one node is SIGKILLed; its stations reconnect at once to the
other nodes (as behind a balancer); printed: until all of them are booted again elsewhere, until a
CALL through a surviving node's API reaches each of them, and until the dead node's presence is
swept (≤ lease + a renewal period).

Then the site take-over time with 3 nodes and `--sites` sites (docs/cluster.md, "Site leaders
and fencing"): the node leading a site is SIGKILLed `--takeovers` times (restarted after each);
printed: until another node's API names a new leader in a later epoch, per kill, beside the bound
`site_takeover_s` it must stay within.

All nodes run on this machine: the figures show the coordination cost (presence, routing, relay
over LISTEN/NOTIFY), not the gain of more machines.

    .venv/bin/python benchmarks/cluster.py [--stations 150] [--seconds 10] [--lease-s 2]
        [--takeover-s 6] [--takeovers 3] [--sites 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
from light_station import BOOT, LightStation, connect

from tests.support.cluster import ClusterNode, LocalCluster, local_cluster, query

POSTGRES_URL = os.environ.get("CSMS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


SAMPLES_STORED = "SELECT coalesce(sum(json_array_length(samples::json)), 0) AS n FROM meter_values"


def _meter_values(n: int) -> dict[str, object]:
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    value = {"value": str(n), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
    return {"connectorId": 1, "meterValue": [{"timestamp": stamp, "sampledValue": [value]}]}


async def _connect_all(
    cluster: LocalCluster, ids: list[str], nodes: list[int]
) -> list[LightStation]:
    gate = asyncio.Semaphore(50)

    async def one(i: int, station_id: str) -> LightStation:
        node = cluster.nodes[nodes[i % len(nodes)]]
        async with gate:
            station = await connect("127.0.0.1", node.ocpp_port, station_id)
            await station.call("BootNotification", BOOT)
        return station

    return list(await asyncio.gather(*(one(i, sid) for i, sid in enumerate(ids))))


async def _load(stations: list[LightStation], seconds: float) -> int:
    answered = 0
    stop = time.monotonic() + seconds

    async def loop(station: LightStation) -> None:
        nonlocal answered
        n = 0
        while time.monotonic() < stop:
            n += 1
            await station.call("MeterValues", _meter_values(n))
            answered += 1

    await asyncio.gather(*(loop(s) for s in stations))
    return answered


async def _run_size(nodes: int, args: argparse.Namespace, work: Path) -> dict[str, float]:
    schema = f"bench_cluster_{uuid.uuid4().hex[:8]}"
    (work / f"n{nodes}").mkdir()
    url = f"{POSTGRES_URL}?schema={schema}"
    try:
        ids = [f"BC-{i:05d}" for i in range(args.stations)]
        async with local_cluster(
            url, work / f"n{nodes}", nodes=nodes, node_lease_s=args.lease_s,
            extra_toml=_sites_toml(args.sites, ids),
        ) as cluster:  # fmt: skip
            began = time.monotonic()
            stations = await _connect_all(cluster, ids, list(range(nodes)))
            connected_s = time.monotonic() - began
            began = time.monotonic()
            answered = await _load(stations, args.seconds)
            elapsed = time.monotonic() - began
            rows = await query(url, SAMPLES_STORED)
            relayed = sum([await _relayed(node) for node in cluster.nodes])
            figures = {
                "connected": float(len(stations)),
                "connect_s": connected_s,
                "answered_per_s": answered / elapsed,
                "stored_per_s": rows[0]["n"] / elapsed,
                "lost": float(answered - rows[0]["n"]),
                "relayed_per_mv": relayed / max(1, answered),
            }
            if nodes == 3:
                figures.update(await _failover(cluster, stations, ids, url))
            for station in stations:
                station.close()
            return figures
    finally:
        conn = await asyncpg.connect(POSTGRES_URL)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


async def _failover(
    cluster: LocalCluster, stations: list[LightStation], ids: list[str], url: str
) -> dict[str, float]:
    victim = cluster.nodes[2]
    moved = [i for i in range(len(ids)) if i % 3 == 2]
    killed_at = time.monotonic()
    await victim.kill()
    # The stations notice the dead socket and reconnect to the survivors.
    await asyncio.gather(*(stations[i].lost for i in moved))
    again = await _connect_all(cluster, [ids[i] for i in moved], [0, 1])
    booted_s = time.monotonic() - killed_at
    for i, station in zip(moved, again, strict=True):
        stations[i] = station

    async def reachable(station_id: str) -> None:
        while True:
            status, body = await cluster.nodes[0].api(
                "POST", f"/api/v1/stations/{station_id}/trigger", {"message": "Heartbeat"}
            )
            if status == 200 and body.get("status") == "Accepted":
                return
            await asyncio.sleep(0.05)

    await asyncio.gather(*(reachable(ids[i]) for i in moved))
    served_s = time.monotonic() - killed_at
    while await query(  # noqa: ASYNC110 - polling the database for another party's state
        url, "SELECT 1 FROM cluster_presence WHERE node_id = $1", victim.node_id
    ) or await query(url, "SELECT 1 FROM cluster_nodes WHERE node_id = $1", victim.node_id):
        await asyncio.sleep(0.05)
    swept_s = time.monotonic() - killed_at
    return {"rebooted_s": booted_s, "served_s": served_s, "swept_s": swept_s}


def _sites_toml(sites: int, stations: list[str] | None = None) -> str:
    """`sites` sites without a meter, `stations` spread over them round-robin."""
    out = []
    for i in range(sites):
        out.append(
            f'[[sites]]\nid = "bench-site-{i}"\ngrid_limit_a = 40\n[sites.meter]\ntype = "none"\n'
        )
        out += [f'[[sites.stations]]\nid = "{s}"\n' for s in (stations or [])[i::sites]]
    return "\n".join(out)


async def _relayed(node: ClusterNode) -> float:
    """Events the node sent to other nodes so far (its `/metrics`)."""
    status, text = await node.api("GET", "/metrics")
    assert status == 200, status
    for line in str(text).splitlines():
        if line.startswith('csms_cluster_events_relayed_total{direction="sent"}'):
            return float(line.split()[-1])
    return 0.0


async def _leaders(cluster: LocalCluster, site_id: str) -> list[tuple[str, int] | None]:
    out: list[tuple[str, int] | None] = []
    for node in cluster.nodes:
        if node.running:
            status, body = await node.api("GET", f"/api/v1/sites/{site_id}")
            leader = body.get("leader") if status == 200 else None
            out.append(None if leader is None else (leader["node_id"], leader["epoch"]))
    return out


async def _site_takeovers(args: argparse.Namespace, work: Path) -> list[float]:
    """Seconds from the SIGKILL of a site's leader until every live node names a new one."""
    schema = f"bench_takeover_{uuid.uuid4().hex[:8]}"
    url = f"{POSTGRES_URL}?schema={schema}"
    (work / "takeover").mkdir()
    times = []
    try:
        async with local_cluster(
            url, work / "takeover", nodes=3, node_lease_s=args.lease_s,
            site_takeover_s=args.takeover_s, extra_toml=_sites_toml(args.sites),
        ) as cluster:  # fmt: skip
            site_id = "bench-site-0"
            for _ in range(args.takeovers):
                while True:
                    leaders = await _leaders(cluster, site_id)
                    if leaders and None not in leaders and len(set(leaders)) == 1:
                        break
                    await asyncio.sleep(0.05)
                node_id, epoch = leaders[0]  # type: ignore[misc]
                victim = next(n for n in cluster.nodes if n.node_id == node_id)
                killed_at = time.monotonic()
                await victim.kill()
                while True:
                    leaders = await _leaders(cluster, site_id)
                    if leaders and all(x is not None and x[1] > epoch for x in leaders):
                        break
                    await asyncio.sleep(0.05)
                times.append(time.monotonic() - killed_at)
                await victim.start()
    finally:
        conn = await asyncpg.connect(POSTGRES_URL)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
    return times


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = {n: await _run_size(n, args, Path(tmp)) for n in (1, 2, 3)}
        takeovers = await _site_takeovers(args, Path(tmp))
    print(f"\n{args.stations} stations, MeterValues closed loop for {args.seconds:g} s")
    print(f"{'nodes':<28}" + "".join(f"{n:>12}" for n in results))
    rows = [
        ("stations connected", "connected", "{:.0f}"),
        ("connect + boot all (s)", "connect_s", "{:.1f}"),
        ("MeterValues answered/s", "answered_per_s", "{:.0f}"),
        ("MeterValues stored/s", "stored_per_s", "{:.0f}"),
        ("answered but not stored", "lost", "{:.0f}"),
        ("events sent per MeterValues", "relayed_per_mv", "{:.2f}"),
    ]
    for label, key, fmt in rows:
        print(f"{label:<28}" + "".join(f"{fmt.format(r[key]):>12}" for r in results.values()))
    f = results[3]
    print(f"\nfailover (3 nodes, lease {args.lease_s:g} s, one node SIGKILLed):")
    print(f"  its stations booted on other nodes after {f['rebooted_s']:.2f} s")
    print(f"  a CALL through another node's API reaches each after {f['served_s']:.2f} s")
    print(f"  dead node's presence swept after {f['swept_s']:.2f} s")
    print(
        f"\nsite take-over (3 nodes, {args.sites} sites, the leader of one SIGKILLed "
        f"{len(takeovers)} times; bound site_takeover_s = {args.takeover_s:g} s):"
    )
    print("  new leader named by every node after " + ", ".join(f"{t:.2f}" for t in takeovers)
          + f" s (max {max(takeovers):.2f} s, bound {args.takeover_s:g} s)")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--lease-s", type=float, default=2.0)
    parser.add_argument("--takeover-s", type=float, default=6.0)
    parser.add_argument("--takeovers", type=int, default=3)
    parser.add_argument("--sites", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
