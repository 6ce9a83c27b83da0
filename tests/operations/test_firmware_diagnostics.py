"""Firmware and diagnostics without extra servers, against a simulated station: the file is
served on the API port at an unguessable URL the station fetches without the API token; the
station reports Downloading, Downloaded, Installing, reboots, boots with the new version and
reports Installed; a broken file ends InstallationFailed (visible through the API and
`failed_firmware_updates`); diagnostics are uploaded to our own endpoint."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from csms.app import CentralSystem, running_central_system
from tests.operations.helpers import SLOW, api, start_station, until
from tests.support.cli import csms, one_line_error
from tests.support.databases import make_settings

TOKEN = "operator-secret-token"


@pytest.fixture
async def secured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[CentralSystem]:
    """A central system with an API token (the CLI sends it from CSMS_API_TOKEN)."""
    monkeypatch.setenv("CSMS_API_TOKEN", TOKEN)
    settings = make_settings(f"sqlite:///{tmp_path}/csms.sqlite3", api_token=TOKEN)
    async with running_central_system(settings) as cs:
        yield cs


async def test_firmware_update_through_our_own_url(
    secured: CentralSystem, sim_stations: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cs = secured
    station = await start_station(sim_stations, cs, reboot_delay_s=0.2)
    sid = station.station_id
    image = tmp_path / "alfen-6.0.0.bin"
    image.write_bytes(b"version=6.0.0-5000\n" + os.urandom(4096))

    code, out, _ = await csms(capsys, cs, "firmware", "add", str(image))
    assert code == 0 and out.startswith("firmware ") and "alfen-6.0.0.bin, 4115 bytes" in out
    file_id = out.split()[1].rstrip(":")
    (listed,) = await api(cs, "GET", "/api/v1/firmware", token=TOKEN)
    assert listed["id"] == file_id and listed["size"] == 4115 and len(listed["sha256"]) == 64
    await api(cs, "GET", "/api/v1/firmware", status=401)  # the operator's side needs the token

    code, out, _ = await csms(capsys, cs, "firmware", "update", sid, file_id, "--retries", "2")
    assert code == 0 and out.strip() == f"{sid}: UpdateFirmware with {file_id}: Accepted"
    await station.wait_for(lambda: station.maintenance.firmware_steps[-1:] == ["Installed"], SLOW)
    assert station.maintenance.firmware_steps == [
        "Downloading", "Downloaded", "Installing", "Installed"
    ]  # fmt: skip
    assert station.firmware == "6.0.0-5000" and station.resets == ["Hard"]

    async def installed() -> bool:
        state = await api(cs, "GET", f"/api/v1/stations/{sid}/firmware", token=TOKEN)
        return bool(state["status"] == "Installed")

    await until(installed)
    state = await api(cs, "GET", f"/api/v1/stations/{sid}/firmware", token=TOKEN)
    assert [s["status"] for s in state["steps"]] == station.maintenance.firmware_steps
    assert state["file_id"] == file_id and state["failed"] is False
    record = await cs.store.stations.get(sid)
    assert record is not None and record.firmware_version == "6.0.0-5000"  # reported at boot
    code, out, _ = await csms(capsys, cs, "firmware", "status", sid)
    assert out.strip() == (
        f"{sid}: firmware {file_id}: Downloading → Downloaded → Installing → Installed"
    )

    # A file the station cannot install: the failure is visible.
    broken = await _upload(cs, "broken.bin", b"BROKEN image")
    body = {"file_id": broken["id"]}
    answer = await api(cs, "POST", f"/api/v1/stations/{sid}/firmware", body, token=TOKEN)
    assert answer["status"] == "Accepted"

    async def failed() -> bool:
        return [s.station_id for s in await cs.operations.failed_firmware_updates()] == [sid]

    await until(failed)
    state = await api(cs, "GET", f"/api/v1/stations/{sid}/firmware", token=TOKEN)
    assert state["status"] == "InstallationFailed" and state["failed"] is True
    # The alert reads the same answer (OperationsService.failed_firmware_updates).
    raised = [(a.station_id, a.message) for a in await cs.alerts.check()]
    assert (sid, f"firmware update of {sid} failed: InstallationFailed") in raised
    assert station.firmware == "6.0.0-5000"

    body = {"file_id": "0123456789ab"}
    answer = await api(cs, "POST", f"/api/v1/stations/{sid}/firmware", body, 404, token=TOKEN)
    assert answer["detail"] == "firmware file 0123456789ab not found"
    code, _, err = await csms(capsys, cs, "firmware", "add", str(tmp_path / "missing.bin"))
    assert "cannot read" in one_line_error(code, err)
    async with httpx.AsyncClient(base_url=cs.api_url) as client:
        guessed = await client.get(f"/files/firmware/not-the-token/{image.name}")
    assert guessed.status_code == 404


async def _upload(cs: CentralSystem, name: str, content: bytes) -> Any:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=cs.api_url, headers=headers) as client:
        response = await client.post(f"/api/v1/firmware?name={name}", content=content)
    assert response.status_code == 200, response.text
    return response.json()


async def test_diagnostics_uploaded_to_our_endpoint(
    secured: CentralSystem, sim_stations: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cs = secured
    station = await start_station(sim_stations, cs)
    sid = station.station_id
    url = f"/api/v1/stations/{sid}/diagnostics"

    answer = await api(cs, "POST", url, {}, token=TOKEN)
    assert answer["status"] == "Accepted" and answer["answer"]["fileName"].startswith(sid)
    await station.wait_for(lambda: station.maintenance.diagnostics_steps[-1:] == ["Uploaded"], SLOW)

    async def received() -> bool:
        state = await api(cs, "GET", url, token=TOKEN)
        return bool(state["files"]) and state["status"] == "Uploaded"

    await until(received)
    state = await api(cs, "GET", url, token=TOKEN)
    (stored,) = state["files"]
    assert stored["name"] == answer["answer"]["fileName"] and stored["size"] > 0
    assert [s["status"] for s in state["steps"]] == ["Uploading", "Uploaded"]
    async with httpx.AsyncClient(
        base_url=cs.api_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as c:
        content = (await c.get(f"{url}/{stored['id']}")).content
    assert sid.encode() in content and b"firmware 5.8.1-4123" in content

    code, out, _ = await csms(capsys, cs, "diagnostics", sid)
    assert code == 0 and out.startswith(f"{sid}: GetDiagnostics ({sid}_diagnostics_")
    assert out.strip().endswith("Accepted")
    await station.wait_for(lambda: len(station.maintenance.uploads) == 2, SLOW)
    code, out, _ = await csms(capsys, cs, "diagnostics", sid, "--status")
    assert code == 0 and "Uploading → Uploaded" in out

    # An external FTP location is passed on as given (the simulator speaks no FTP: it fails).
    answer = await api(cs, "POST", url, {"location": "ftp://logs.example/"}, token=TOKEN)
    assert answer["status"] == "Accepted"
    await station.wait_for(
        lambda: station.maintenance.diagnostics_steps[-1:] == ["UploadFailed"], SLOW
    )
    answer = await api(cs, "POST", url, {"location": "mailto:x"}, 422, token=TOKEN)
    assert answer["detail"] == "location must be an http(s):// or ftp:// URL"

    async with httpx.AsyncClient(base_url=cs.api_url) as client:
        wrong = await client.put("/files/diagnostics/guess/x.log", content=b"junk")
    assert wrong.status_code == 404

    await station.stop()
    code, _, err = await csms(capsys, cs, "diagnostics", sid)
    assert one_line_error(code, err) == f"csms: 409: station {sid} is offline"
