"""What the edges (API, CLI through the API, console) may use of the operations service: the
`Operations` protocol, the answers and refusals it gives, and the narrow `LoopCaps` it needs of
smart charging. The API imports this module, never `service.py` (an import-linter contract)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from csms.operations import commands as cmd
from csms.operations.records import (
    DiagnosticsState,
    FirmwareState,
    ManualProfile,
    Reservation,
    StoredFile,
)

FILES_PREFIX = "/files"
"""Where firmware is downloaded and diagnostics uploaded; no API token (the token is in the URL)."""


HINTS = {
    "RemoteStartTransaction": " (an Alfen station starts only for an idTag it accepts: in Plug &"
    " Charge mode its PlugAndChargeIdentifier, with a whitelist a listed tag)",
}
"""Added to a refusal's line where the station's reason is usually the same."""


class Refused(Exception):
    """The station answered with a status other than success."""

    def __init__(self, station_id: str, action: str, status: str) -> None:
        hint = HINTS.get(action, "") if status == "Rejected" else ""
        super().__init__(f"station {station_id} answered {status} to {action}{hint}")
        self.station_id = station_id
        self.action = action
        self.status = status


class UnknownFile(LookupError):
    """No firmware file with that id."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What the station answered: its status and the rest of its payload."""

    action: str
    status: str
    payload: dict[str, Any] = field(default_factory=dict)


class LoopCaps(Protocol):
    """What a profile by hand needs of smart charging (`ChargingService`): whether a station is
    managed by a site's control loop, and setting an operator cap there."""

    def site_of(self, station_id: str) -> object | None: ...

    async def set_cap(
        self, scope: str, target_id: str, connector_id: int, limit_a: float | None
    ) -> None: ...


CapabilitiesSource = Callable[[str], Awaitable[Mapping[str, str | None]]]
"""The latest configuration snapshot's values of a station (empty when none was taken)."""


class Operations(Protocol):
    """What the API uses of the operations service."""

    async def send(self, station_id: str, command: cmd.Command) -> Answer: ...
    async def set_profile(
        self, station_id: str, connector_id: int, profile: Mapping[str, Any]
    ) -> Answer: ...
    async def clear_profile(
        self, station_id: str, profile_id: int | None, connector_id: int | None,
        purpose: str | None, stack_level: int | None,
    ) -> Answer: ...  # fmt: skip
    async def manual_profiles(self, station_id: str) -> list[ManualProfile]: ...
    async def capabilities(self, station_id: str) -> cmd.Capabilities: ...
    async def reserve(
        self, station_id: str, connector_id: int, id_tag: str, expiry: float,
        parent_id_tag: str | None,
    ) -> Reservation: ...  # fmt: skip
    async def cancel_reservation(self, station_id: str, reservation_id: int) -> Reservation: ...
    async def reservations(self, station_id: str) -> list[Reservation]: ...
    async def add_firmware(self, name: str, content: bytes) -> StoredFile: ...
    async def firmware_files(self) -> list[StoredFile]: ...
    async def firmware_download(self, token: str) -> tuple[StoredFile, bytes] | None: ...
    async def update_firmware(
        self, station_id: str, file_id: str, base_url: str, retrieve_at: float | None,
        retries: int | None, retry_interval_s: int | None,
    ) -> Answer: ...  # fmt: skip
    async def firmware_state(self, station_id: str) -> FirmwareState: ...
    async def failed_firmware_updates(self) -> list[FirmwareState]: ...
    async def get_diagnostics(
        self, station_id: str, base_url: str, location: str | None,
        start: float | None, stop: float | None,
    ) -> Answer: ...  # fmt: skip
    async def receive_diagnostics(
        self, token: str, name: str, content: bytes
    ) -> StoredFile | None: ...
    async def diagnostics_state(self, station_id: str) -> DiagnosticsState: ...
    async def diagnostics_content(self, station_id: str, file_id: int) -> bytes | None: ...
    def now(self) -> float: ...

    files_base_url: str | None
