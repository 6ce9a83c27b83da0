"""Unknown-station policies, approval through API and CLI, API token, allow-list auth."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys

import httpx
import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import call
from websockets.exceptions import InvalidStatus

from csms.app import running_central_system
from csms.settings import SettingsError, load_settings
from tests.support.databases import make_settings
from tests.support.ocpp_client import LibraryStation, library_station

BOOT = call.BootNotification(charge_point_vendor="Alfen BV", charge_point_model="NG920")


class TriggerableStation(LibraryStation):
    triggered: asyncio.Event

    @on("TriggerMessage")
    async def on_trigger(self, requested_message: str, **_: object) -> object:
        from ocpp.v16 import call_result

        self.triggered.set()
        return call_result.TriggerMessage(status="Accepted")


def _cli(*args: str, api: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "csms.cli", *args, "--api", api],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_pending_then_approved_via_cli(tmp_path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite3", unknown_stations="pending")
    async with running_central_system(settings) as cs:
        import websockets as ws_lib

        async with ws_lib.connect(f"{cs.ocpp_url}/NEW-1", subprotocols=["ocpp1.6"]) as ws:
            cp = TriggerableStation("NEW-1", ws)
            cp.triggered = asyncio.Event()
            task = asyncio.create_task(cp.start())
            assert (await cp.call(BOOT)).status == "Pending"
            listed = await asyncio.to_thread(_cli, "stations", "list", api=cs.api_url)
            assert (
                listed.returncode == 0 and "NEW-1" in listed.stdout and "pending" in listed.stdout
            )
            approved = await asyncio.to_thread(_cli, "stations", "approve", "NEW-1", api=cs.api_url)
            assert approved.returncode == 0, approved.stderr
            assert "NEW-1: accepted" in approved.stdout
            await asyncio.wait_for(cp.triggered.wait(), 10)  # asked to boot again
            assert (await cp.call(BOOT)).status == "Accepted"
            task.cancel()
        missing = await asyncio.to_thread(_cli, "stations", "show", "NOPE", api=cs.api_url)
        assert missing.returncode == 1
        assert missing.stderr.strip() == "csms: 404: station NOPE not found"
        async with httpx.AsyncClient(base_url=cs.api_url) as client:
            shown = (await client.get("/api/v1/stations/NEW-1")).json()
            assert shown["status"] == "accepted" and shown["vendor"] == "Alfen BV"
            assert (await client.get("/docs")).status_code == 200
            assert (await client.get("/metrics")).status_code == 200
            bad = await client.post("/api/v1/stations", json={"id": "a/b"})
            assert bad.status_code == 422


async def test_reject_policy_and_allow_list(tmp_path) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path}/db.sqlite3",
        unknown_stations="reject",
        authorization="allow-list",
        api_token="s3cret-token",
        api_host="0.0.0.0",
    )
    async with running_central_system(settings) as cs:
        api = cs.api_url.replace("0.0.0.0", "127.0.0.1")
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(f"{cs.ocpp_url}/STRANGER", subprotocols=["ocpp1.6"]):
                pass
        assert refused.value.response.status_code == 403
        async with httpx.AsyncClient(base_url=api) as client:
            assert (await client.get("/api/v1/stations")).status_code == 401
            headers = {"Authorization": "Bearer s3cret-token"}
            created = await client.post(
                "/api/v1/stations", json={"id": "KNOWN", "password": "long enough"}, headers=headers
            )
            assert created.status_code == 201 and created.json()["has_password"]
        await cs.store.id_tags.add("GOOD-TAG", 0)
        import base64

        auth = base64.b64encode(b"KNOWN:long enough").decode()
        async with library_station(
            cs.ocpp_url, "KNOWN", additional_headers={"Authorization": f"Basic {auth}"}
        ) as cp:
            assert (await cp.call(BOOT)).status == "Accepted"
            good = await cp.call(call.Authorize(id_tag="GOOD-TAG"))
            bad = await cp.call(call.Authorize(id_tag="EVIL-TAG"))
            assert (good.id_tag_info["status"], bad.id_tag_info["status"]) == (
                "Accepted",
                "Invalid",
            )


def test_bad_settings_name_the_setting(tmp_path) -> None:
    cases = {
        "ocpp_port = 70000": "setting ocpp_port",
        'unknown_stations = "maybe"': "setting unknown_stations",
        '[[sites]]\nid = "home"\ngrid_limit_a = -5': "setting sites[0].grid_limit_a",
        '[[sites]]\nid = "h"\n[[sites.stations]]\nid = "A"\nphase_rotation = "L4"': (
            "setting sites[0].stations[0].phase_rotation"
        ),
        'api_host = "0.0.0.0"': "set api_token",
        "ocpp_port = [": "not valid TOML",
    }
    for text, expected in cases.items():
        path = tmp_path / "csms.toml"
        path.write_text(text + "\n")
        with pytest.raises(SettingsError) as error:
            load_settings(path, env={})
        assert expected in str(error.value), text
    env = {"CSMS_OCPP_PORT": "abc"}
    with pytest.raises(SettingsError, match="setting ocpp_port"):
        load_settings(None, env=env)
    assert load_settings(None, env={"CSMS_OCPP_PORT": "9100"}).ocpp_port == 9100


def test_serve_refuses_bad_setting_with_one_line(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "csms.cli", "serve", "--ocpp-port", "99999"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "csms: setting ocpp_port: Input should be less than or equal to 65535"
    ]


async def test_bad_ids_and_tokens_get_4xx_not_500(tmp_path) -> None:
    """Ids the database cannot hold and non-ASCII tokens are the client's error, not ours."""
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite3", api_token="tok")
    async with running_central_system(settings) as cs:
        await cs.store.stations.create("S1", "accepted", 0)
        headers = {"Authorization": "Bearer tok"}
        huge = "99999999999999999999"
        async with httpx.AsyncClient(base_url=cs.api_url, headers=headers) as client:
            for path in (
                f"/api/v1/transactions/{huge}",
                f"/api/v1/transactions/{huge}/meter-values",
                f"/api/v1/stations/S1/configuration/snapshots/{huge}",
                f"/api/v1/stations/S1/configuration/changes/{huge}",
                f"/api/v1/stations/S1/configuration/diff?from={huge}",
                f"/api/v1/stations/S1/configuration/diff?to={huge}",
                f"/api/v1/scn/jobs/{huge}",
            ):
                answer = await client.get(path)
                assert answer.status_code in (404, 422), (path, answer.text)
            odd = {"Authorization": "Bearer t\u00e9k".encode("latin-1")}
            answer = await client.get("/api/v1/stations", headers=odd)
            assert answer.status_code == 401


async def test_rejecting_a_connected_station_closes_its_link(tmp_path) -> None:
    """The API closes a rejected station's session through the station link (code 1008), and
    shows the connected station's last frame as `last_seen` until then."""
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite3", unknown_stations="accept")
    async with (
        running_central_system(settings) as cs,
        websockets.connect(f"{cs.ocpp_url}/REJ-1", subprotocols=["ocpp1.6"]) as ws,
        httpx.AsyncClient(base_url=cs.api_url) as client,
    ):
        cp = LibraryStation("REJ-1", ws)
        task = asyncio.create_task(cp.start())
        try:
            assert (await cp.call(BOOT)).status == "Accepted"
            shown = (await client.get("/api/v1/stations/REJ-1")).json()
            assert shown["online"] is True and shown["last_seen"] is not None

            answer = await client.post("/api/v1/stations/REJ-1/reject")
            assert answer.status_code == 200, answer.text
            assert answer.json()["status"] == "rejected"
            await asyncio.wait_for(ws.wait_closed(), 30)
            assert ws.close_code == 1008
            assert (await client.get("/api/v1/stations/REJ-1")).json()["online"] is False
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
