"""The thin shell of operator operations: validate (pure `commands`), send through the
`StationLink` (one CALL in flight per station), record, answer with the station's own status.

A refusal by the station raises `Refused` (the API's 409, one line naming the station, the
status and the action); an offline station raises `StationOffline` from the link.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from csms.ocpp.errors import StationOffline
from csms.ocpp.link import StationLink
from csms.operations import commands as cmd
from csms.operations.interfaces import (
    FILES_PREFIX,
    Answer,
    CapabilitiesSource,
    LoopCaps,
    Refused,
    UnknownFile,
)
from csms.operations.records import (
    DiagnosticsState,
    FirmwareState,
    ManualProfile,
    Reservation,
    StoredFile,
    progress,
)
from csms.operations.repository import DIAGNOSTICS_KIND, FIRMWARE_KIND, OperationsRepository
from csms.storage.stations import EventStore

log = logging.getLogger(__name__)

JOURNAL_KIND = "OperatorCommand"
"""The station event kind of a command sent by an operator, with the station's answer."""
MAX_FILE_BYTES = 256 * 1024 * 1024
"""The largest firmware or diagnostics file kept (Alfen firmware images are ~50 MB)."""


class OperationsService:
    """Sends the operator's commands and keeps what they leave behind."""

    def __init__(
        self,
        link: StationLink,
        repository: OperationsRepository,
        journal: EventStore,
        capabilities: CapabilitiesSource,
        clock: Callable[[], float],
        files_base_url: str | None = None,
        loop: LoopCaps | None = None,
    ) -> None:
        self.loop = loop
        self.link = link
        self.journal = journal
        self.files_base_url = files_base_url
        self.repository = repository
        self._capabilities = capabilities
        self.clock = clock

    def now(self) -> float:
        return self.clock()

    async def capabilities(self, station_id: str) -> cmd.Capabilities:
        return cmd.Capabilities.from_values(await self._capabilities(station_id))

    async def call(self, station_id: str, command: cmd.Command) -> Answer:
        """Send and return the station's answer, refusal or not."""
        payload = await self.link.call(station_id, command.action, command.payload)
        status = cmd.station_status(command.action, payload)
        log.info("%s: %s answered %s", station_id, command.action, status)
        # Every command and the station's answer go into the station's event log.
        record = {"action": command.action, "request": command.payload, "status": status}
        await self.journal.record(station_id, JOURNAL_KIND, record, self.clock())
        return Answer(command.action, status, dict(payload))

    async def send(self, station_id: str, command: cmd.Command) -> Answer:
        """Send; raises `Refused` unless the station's status means success."""
        answer = await self.call(station_id, command)
        if not cmd.succeeded(command.action, answer.status):
            raise Refused(station_id, command.action, answer.status)
        return answer

    # -- charging profiles by hand ----------------------------------------------------------------
    def managed(self, station_id: str) -> bool:
        """Whether a site's control loop sends this station profiles."""
        return self.loop is not None and self.loop.site_of(station_id) is not None

    async def set_profile(
        self, station_id: str, connector_id: int, profile: Mapping[str, Any]
    ) -> Answer:
        """SetChargingProfile by hand; on a managed station its limit becomes the connector's
        operator cap (the loop counts it and stays at or below it) until it is cleared."""
        caps = await self.capabilities(station_id)
        command = cmd.set_profile(connector_id, profile, caps)
        checked = command.payload["csChargingProfiles"]
        managed = self.managed(station_id)
        if managed:
            cmd.check_beside_loop(checked, caps)
        answer = await self.send(station_id, command)
        if managed:
            manual = ManualProfile(
                station_id, connector_id, checked["chargingProfileId"],
                checked["chargingProfilePurpose"], checked["stackLevel"],
                cmd.manual_limit_a(checked), self.clock(),
            )  # fmt: skip
            await self.repository.add_manual_profile(manual)
            await self._apply_manual_caps(station_id, {connector_id})
        return answer

    async def clear_profile(
        self,
        station_id: str,
        profile_id: int | None,
        connector_id: int | None,
        purpose: str | None,
        stack_level: int | None,
    ) -> Answer:
        """ClearChargingProfile by hand; the caps of the manual profiles it clears go too."""
        command = cmd.clear_profile(profile_id, connector_id, purpose, stack_level)
        answer = await self.send(station_id, command)
        touched = set()
        for manual in await self.repository.manual_profiles(station_id):
            if manual.cleared_by(profile_id, connector_id, purpose, stack_level):
                await self.repository.remove_manual_profile(manual)
                touched.add(manual.connector_id)
        await self._apply_manual_caps(station_id, touched)
        return answer

    async def manual_profiles(self, station_id: str) -> list[ManualProfile]:
        return await self.repository.manual_profiles(station_id)

    async def _apply_manual_caps(self, station_id: str, connectors: set[int]) -> None:
        if self.loop is None or not self.managed(station_id):
            return
        remaining = await self.repository.manual_profiles(station_id)
        for cid in connectors:
            limits = [m.limit_a for m in remaining if m.connector_id == cid]
            cap = min(limits) if limits else None
            scope = "connector" if cid else "station"
            await self.loop.set_cap(scope, station_id, cid, cap)
            log.info("%s: connector %d cap from profiles by hand: %s A", station_id, cid, cap)

    # -- reservations ---------------------------------------------------------------------------
    async def reserve(
        self,
        station_id: str,
        connector_id: int,
        id_tag: str,
        expiry: float,
        parent_id_tag: str | None,
    ) -> Reservation:
        """ReserveNow with a new reservation id; the answer is stored, a refusal raised."""
        now = self.clock()
        cmd.reserve_now(0, connector_id, id_tag, expiry, parent_id_tag, now)  # validate first
        if not self.link.is_online(station_id):
            raise StationOffline(station_id)
        reservation_id = await self.repository.add_reservation(
            station_id, connector_id, id_tag.strip(), parent_id_tag, expiry, now
        )
        command = cmd.reserve_now(reservation_id, connector_id, id_tag, expiry, parent_id_tag, now)
        try:
            answer = await self.call(station_id, command)
        except Exception:
            await self.repository.answer_reservation(reservation_id, "NotSent")
            raise
        await self.repository.answer_reservation(reservation_id, answer.status)
        if not cmd.succeeded(command.action, answer.status):
            raise Refused(station_id, command.action, answer.status)
        stored = await self.repository.reservation(station_id, reservation_id)
        assert stored is not None
        return stored

    async def cancel_reservation(self, station_id: str, reservation_id: int) -> Reservation:
        """CancelReservation; raises LookupError for an id we never sent to this station."""
        known = await self.repository.reservation(station_id, reservation_id)
        if known is None:
            raise LookupError(f"reservation {reservation_id} of station {station_id} not found")
        await self.send(station_id, cmd.cancel_reservation(reservation_id))
        await self.repository.cancel_reservation(reservation_id, self.clock())
        stored = await self.repository.reservation(station_id, reservation_id)
        assert stored is not None
        return stored

    async def reservations(self, station_id: str) -> list[Reservation]:
        return await self.repository.reservations(station_id)

    # -- firmware -------------------------------------------------------------------------------
    async def add_firmware(self, name: str, content: bytes) -> StoredFile:
        if not content:
            raise cmd.InvalidCommand("the firmware file is empty")
        if len(content) > MAX_FILE_BYTES:
            raise cmd.InvalidCommand(f"a firmware file may have at most {MAX_FILE_BYTES} bytes")
        clean = name.replace("/", "_").replace("\\", "_").strip() or "firmware.bin"
        return await self.repository.add_firmware(clean[:200], content, self.clock())

    async def firmware_files(self) -> list[StoredFile]:
        return await self.repository.firmware_files()

    async def firmware_download(self, token: str) -> tuple[StoredFile, bytes] | None:
        found = await self.repository.firmware_content(token)
        if found is not None:
            log.info("firmware %s downloaded", found[0].id)
        return found

    async def update_firmware(
        self,
        station_id: str,
        file_id: str,
        base_url: str,
        retrieve_at: float | None,
        retries: int | None,
        retry_interval_s: int | None,
    ) -> Answer:
        """UpdateFirmware pointing the station at the file's URL under `base_url`."""
        stored = await self.repository.firmware(file_id)
        if stored is None:
            raise UnknownFile(f"firmware file {file_id} not found")
        location = firmware_url(base_url, stored)
        sent_at = self.clock()  # before sending: the first notification may come before the answer
        at = sent_at if retrieve_at is None else retrieve_at
        answer = await self.send(
            station_id, cmd.update_firmware(location, at, retries, retry_interval_s)
        )
        await self.repository.add_firmware_update(station_id, file_id, location, at, sent_at)
        return answer

    async def firmware_state(self, station_id: str) -> FirmwareState:
        """The latest update sent to the station and the notifications since."""
        update = await self.repository.latest_firmware_update(station_id)
        since = float(update["requested_at"]) if update else None
        steps = progress(await self.repository.notifications(station_id, FIRMWARE_KIND), since)
        return FirmwareState(
            station_id=station_id,
            file_id=update["file_id"] if update else None,
            requested_at=since,
            status=steps[-1].status if steps else None,
            steps=steps,
        )

    async def failed_firmware_updates(self) -> list[FirmwareState]:
        """Stations whose latest firmware update failed (for alerts)."""
        states = [
            await self.firmware_state(station_id)
            for station_id in await self.repository.stations_with_firmware_updates()
        ]
        return [state for state in states if state.failed]

    # -- diagnostics ----------------------------------------------------------------------------
    async def get_diagnostics(
        self,
        station_id: str,
        base_url: str,
        location: str | None,
        start: float | None,
        stop: float | None,
    ) -> Answer:
        """GetDiagnostics to our own upload URL (or to `location`, an external FTP server)."""
        token = secrets.token_urlsafe(24)
        target = location or diagnostics_url(base_url, token)
        command = cmd.get_diagnostics(target, start, stop)
        # Stored before sending: the upload may arrive before the answer does.
        request_id = await self.repository.add_diagnostics_request(
            station_id, token, target, self.clock()
        )
        answer = await self.send(station_id, command)
        file_name = answer.payload.get("fileName")
        await self.repository.answer_diagnostics_request(
            request_id, file_name if isinstance(file_name, str) else None
        )
        return answer

    async def receive_diagnostics(self, token: str, name: str, content: bytes) -> StoredFile | None:
        """A station's upload to the URL of one of its requests; None for an unknown token."""
        request = await self.repository.diagnostics_request(token)
        if request is None:
            return None
        if len(content) > MAX_FILE_BYTES:
            raise cmd.InvalidCommand(f"a diagnostics file may have at most {MAX_FILE_BYTES} bytes")
        clean = name.replace("/", "_").replace("\\", "_").strip() or "diagnostics"
        stored = await self.repository.add_diagnostics_file(
            request["station_id"], int(request["id"]), clean[:200], content, self.clock()
        )
        log.info(
            "%s: diagnostics file %s received (%d bytes)", stored.station_id, name, len(content)
        )
        return stored

    async def diagnostics_state(self, station_id: str) -> DiagnosticsState:
        request = await self.repository.latest_diagnostics_request(station_id)
        since = float(request["requested_at"]) if request else None
        steps = progress(await self.repository.notifications(station_id, DIAGNOSTICS_KIND), since)
        return DiagnosticsState(
            station_id=station_id,
            requested_at=since,
            file_name=request["file_name"] if request else None,
            status=steps[-1].status if steps else None,
            steps=steps,
            files=tuple(await self.repository.diagnostics_files(station_id)),
        )

    async def diagnostics_content(self, station_id: str, file_id: int) -> bytes | None:
        return await self.repository.diagnostics_content(station_id, file_id)


def firmware_url(base_url: str, stored: StoredFile) -> str:
    return f"{base_url.rstrip('/')}{FILES_PREFIX}/firmware/{stored.token}/{stored.name}"


def diagnostics_url(base_url: str, token: str) -> str:
    """A directory URI: the station appends its file name."""
    return f"{base_url.rstrip('/')}{FILES_PREFIX}/diagnostics/{token}/"
