"""The simulated station's answers to reservations, firmware, diagnostics, cache and vendor
messages (a mixin of `csms.sim.protocol.StationProtocol`, which routes them by `@on`).

As an Alfen station answers: ReserveNow Accepted / Occupied / Faulted / Unavailable / Rejected
(connector 0 only with `ReserveConnectorZeroSupported`), CancelReservation Accepted or Rejected
for an unknown id, UpdateFirmware and GetDiagnostics always answered (the work follows, see
`csms.sim.maintenance`), ClearCache Accepted, DataTransfer Accepted only for its own vendor id
(`UnknownVendorId` otherwise).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.routing import after, on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from csms.sim import reservations
from csms.sim.charging_profiles import parse_time

if TYPE_CHECKING:
    from csms.sim.station import SimStation


class OperationsHandlers:
    """`@on` handlers for the operator's less frequent commands."""

    station: SimStation

    @on(Action.reserve_now)
    def on_reserve_now(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None = None,
        **_: Any,
    ) -> Any:
        station = self.station
        model = station.model
        station.sync()
        wanted = reservations.Reservation(
            reservation_id, id_tag, parent_id_tag, parse_time(expiry_date)
        )
        if connector_id == 0:
            known, _unknown = station.config.get(["ReserveConnectorZeroSupported"])
            if not any(entry.value.lower() == "true" for entry in known if entry.value):
                return call_result.ReserveNow(status="Rejected")
            free = [
                c for c in model.connectors.values()
                if reservations.reserve(c, wanted, model.now) == "Accepted"
            ]  # fmt: skip
            status = "Accepted" if free else "Occupied"
        else:
            status = reservations.reserve(model.connectors.get(connector_id), wanted, model.now)
        station.defer(station.sync)
        return call_result.ReserveNow(status=status)

    @after(Action.reserve_now)
    def after_reserve_now(self, **_: Any) -> None:
        self.station.run_deferred()

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        station = self.station
        station.sync()
        found = reservations.cancel(list(station.model.connectors.values()), reservation_id)
        station.defer(station.sync)
        return call_result.CancelReservation(status="Accepted" if found else "Rejected")

    @after(Action.cancel_reservation)
    def after_cancel_reservation(self, **_: Any) -> None:
        self.station.run_deferred()

    @on(Action.update_firmware)
    def on_update_firmware(
        self,
        location: str,
        retrieve_date: str,
        retries: int | None = None,
        retry_interval: int | None = None,
        **_: Any,
    ) -> Any:
        station = self.station
        at = parse_time(retrieve_date)
        station.defer(
            lambda: station.maintenance.update_firmware(
                location, at, retries or 0, retry_interval or 30
            )
        )
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    def after_update_firmware(self, **_: Any) -> None:
        self.station.run_deferred()

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location: str, **_: Any) -> Any:
        station = self.station
        name = station.maintenance.diagnostics_file_name()
        station.defer(lambda: station.maintenance.get_diagnostics(location, name))
        return call_result.GetDiagnostics(file_name=name)

    @after(Action.get_diagnostics)
    def after_get_diagnostics(self, **_: Any) -> None:
        self.station.run_deferred()

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> Any:
        self.station.cache_cleared += 1
        return call_result.ClearCache(status="Accepted")

    @on(Action.data_transfer)
    def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None, **_: Any
    ) -> Any:
        station = self.station
        if vendor_id != station.vendor:
            return call_result.DataTransfer(status="UnknownVendorId")
        station.data_transfers.append((message_id, data))
        return call_result.DataTransfer(status="Accepted", data=data)
