"""Nodes starting together on one fresh PostgreSQL schema: migrations run once, under a lock."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from tests.support.cluster import local_cluster
from tests.support.databases import POSTGRES_URL


async def test_three_nodes_starting_together_apply_each_migration_once(
    postgres_url: str, tmp_path: Path
) -> None:
    schema = postgres_url.split("schema=")[1]
    async with local_cluster(postgres_url, tmp_path, nodes=3) as cluster:
        for node in cluster.nodes:
            status, body = await node.readyz()
            assert status == 200, body
        conn = await asyncpg.connect(POSTGRES_URL, server_settings={"search_path": schema})
        try:
            rows = await conn.fetch("SELECT name, count(*) AS n FROM schema_migrations GROUP BY 1")
        finally:
            await conn.close()
        assert rows and all(r["n"] == 1 for r in rows)
        assert "0400_cluster_nodes.sql" in {r["name"] for r in rows}
