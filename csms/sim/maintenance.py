"""Firmware updates and diagnostics uploads of a simulated station, over plain HTTP.

UpdateFirmware: at `retrieveDate` the station reports Downloading, fetches the file from the
location (up to `retries` more times, `retryInterval` apart), then Downloaded, Installing,
reboots (a hard reset) and reports Installed after its new BootNotification, which carries
the new firmware version: the file's first line when it reads `version=…`, else `fw-` and the
first 8 hex digits of its sha256. A failed download ends in DownloadFailed; a file starting with
`BROKEN` in InstallationFailed (the station keeps its firmware).

GetDiagnostics: the answer names the file (`{station}_diagnostics_{time}.log`); the station
reports Uploading, sends the file with an HTTP PUT to the location + file name, then Uploaded
(or UploadFailed; ftp:// locations always fail here: the simulator speaks no FTP).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import httpx
from ocpp.v16 import call

from csms.sim.connection import Job
from csms.sim.smart_charging import format_time
from csms.sim.tasks import cancel_all

if TYPE_CHECKING:
    from csms.sim.station import SimStation

log = logging.getLogger(__name__)

HTTP_TIMEOUT_S = 30.0


def firmware_version(content: bytes) -> str:
    """The version a firmware file installs (see the module docstring)."""
    first = content.split(b"\n", 1)[0].strip()
    if first.startswith(b"version="):
        text = first[len(b"version=") :].decode("ascii", "replace").strip()
        if text:
            return text[:50]
    return "fw-" + hashlib.sha256(content).hexdigest()[:8]


class Maintenance:
    """The firmware and diagnostics state of one station and the tasks that change it."""

    def __init__(self, station: SimStation) -> None:
        self.station = station
        self.firmware_status = "Idle"
        self.diagnostics_status = "Idle"
        self.firmware_steps: list[str] = []
        self.diagnostics_steps: list[str] = []
        self.downloads = 0  # HTTP attempts
        self.uploads: list[str] = []  # URLs uploaded to
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- commands ---------------------------------------------------------------------------------
    def update_firmware(
        self, location: str, retrieve_at: float, retries: int, retry_interval_s: int
    ) -> None:
        """Start the update (after the answer to UpdateFirmware has gone out)."""
        self._start(self._update(location, retrieve_at, retries, retry_interval_s))

    def get_diagnostics(self, location: str, file_name: str) -> None:
        self._start(self._upload(location, file_name))

    def diagnostics_file_name(self) -> str:
        stamp = format_time(self.station.clock.now()).replace(":", "").replace("-", "")
        return f"{self.station.station_id}_diagnostics_{stamp}.log"

    def queue_firmware_status(self, done: asyncio.Event | None = None) -> None:
        """FirmwareStatusNotification with the current status (TriggerMessage, or progress)."""
        self._queue_status(call.FirmwareStatusNotification(status=self.firmware_status), done)

    def queue_diagnostics_status(self, done: asyncio.Event | None = None) -> None:
        self._queue_status(call.DiagnosticsStatusNotification(status=self.diagnostics_status), done)

    async def stop(self) -> None:
        tasks, self._tasks = list(self._tasks), set()
        await cancel_all(tasks)

    # -- work -------------------------------------------------------------------------------------
    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _queue_status(self, message: Any, done: asyncio.Event | None) -> None:
        name = type(message).__name__

        async def run(cp: Any) -> None:
            try:
                await cp.call(message, suppress=False)
            finally:
                if done is not None:
                    done.set()

        # Persistent: progress survives a reconnect, as on a real station.
        self.station.connection.outbox.put(Job(f"{name} {message.status}", run, persistent=True))

    async def _firmware(self, status: str) -> None:
        """Report `status` and wait until the report was sent (or failed)."""
        self.firmware_status = status
        self.firmware_steps.append(status)
        done = asyncio.Event()
        self.queue_firmware_status(done)
        await done.wait()

    async def _update(
        self, location: str, retrieve_at: float, retries: int, retry_interval_s: int
    ) -> None:
        station = self.station
        wait = retrieve_at - station.clock.now()
        if wait > 0:
            await station.clock.sleep(wait)
        await self._firmware("Downloading")
        content = None
        for attempt in range(retries + 1):
            content = await self._download(location)
            if content is not None or attempt == retries:
                break
            await station.clock.sleep(retry_interval_s)
        if content is None:
            await self._firmware("DownloadFailed")
            return
        await self._firmware("Downloaded")
        await self._firmware("Installing")
        if content.startswith(b"BROKEN"):
            await self._firmware("InstallationFailed")
            return
        boots = station.boots
        station.firmware = firmware_version(content)
        log.info("%s: installing firmware %s, rebooting", station.station_id, station.firmware)
        station.request_reset("Hard")
        await station.wait_for(lambda: station.boots > boots, within_s=3600)
        await self._firmware("Installed")
        self.firmware_status = "Idle"

    async def _download(self, location: str) -> bytes | None:
        self.downloads += 1
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
                response = await client.get(location)
        except httpx.HTTPError as exc:
            log.info("%s: firmware download failed: %s", self.station.station_id, exc)
            return None
        if response.status_code != 200:
            log.info(
                "%s: firmware download: HTTP %d", self.station.station_id, response.status_code
            )
            return None
        return response.content

    async def _diagnostics(self, status: str) -> None:
        self.diagnostics_status = status
        self.diagnostics_steps.append(status)
        done = asyncio.Event()
        self.queue_diagnostics_status(done)
        await done.wait()

    async def _upload(self, location: str, file_name: str) -> None:
        station = self.station
        await self._diagnostics("Uploading")
        url = location if location.endswith("/") else location + "/"
        url += file_name
        lines = [
            f"{format_time(station.clock.now())} {station.station_id} firmware {station.firmware}",
            *(f"connector {cid}: {c.status}" for cid, c in station.model.connectors.items()),
        ]
        ok = False
        if url.startswith(("http://", "https://")):
            try:
                async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
                    response = await client.put(url, content="\n".join(lines).encode())
                ok = response.status_code < 300
            except httpx.HTTPError as exc:
                log.info("%s: diagnostics upload failed: %s", station.station_id, exc)
        if ok:
            self.uploads.append(url)
        await self._diagnostics("Uploaded" if ok else "UploadFailed")
        self.diagnostics_status = "Idle"
