"""`/healthz` and `/readyz` for load balancers and Kubernetes, on both databases."""

from __future__ import annotations

import httpx

from csms.app import CentralSystem, running_central_system
from csms.storage.database import Stmt
from tests.support.databases import make_settings


async def test_alive_and_ready(central_system_any_db: CentralSystem) -> None:
    cs = central_system_any_db
    async with httpx.AsyncClient(base_url=cs.api_url) as client:
        alive = await client.get("/healthz")
        ready = await client.get("/readyz")
    assert alive.status_code == 200
    assert alive.json()["status"] == "alive"
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
    assert ready.json()["node_id"] == alive.json()["node_id"] != ""


async def test_a_missing_migration_makes_the_node_not_ready(
    central_system_any_db: CentralSystem,
) -> None:
    """As when a newer node has code for a migration this database lacks (a half-done upgrade)."""
    cs = central_system_any_db
    db = cs.store.db
    newest = (await db.fetch("SELECT name FROM schema_migrations ORDER BY name DESC"))[0]["name"]
    await db.write(Stmt("DELETE FROM schema_migrations WHERE name = $1", (newest,)))
    async with httpx.AsyncClient(base_url=cs.api_url) as client:
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")
    assert ready.status_code == 503
    assert ready.json()["problems"] == [f"migrations not applied: {newest}"]
    assert alive.status_code == 200  # alive all the same: restarting it would not help


async def test_probes_need_no_token_and_name_the_node(tmp_path: object) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path}/csms.sqlite3", api_token="s3cret-token", node_id="node-a"
    )
    async with (
        running_central_system(settings) as cs,
        httpx.AsyncClient(base_url=cs.api_url) as client,
    ):
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")
        api = await client.get("/api/v1/stations")
    assert (ready.status_code, alive.status_code, api.status_code) == (200, 200, 401)
    assert ready.json()["node_id"] == "node-a"
