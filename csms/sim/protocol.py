"""The simulated station's answers to the central system's CALLs (the `ocpp` library's server side
of a charge point: `ocpp.v16.ChargePoint` in client role).

Handlers are thin: they decide with the station's model and configuration and answer; work
that sends messages (a transaction start after RemoteStartTransaction, a reset, a triggered
message) is deferred until the answer has gone out (`@after`), as OCPP requires.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

from csms.sim import smart_charging as sc
from csms.sim.model import StatusChanged
from csms.sim.operations import OperationsHandlers
from csms.sim.reservations import blocks

if TYPE_CHECKING:
    from csms.sim.station import SimStation

log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    """Decimals (the library parses SetChargingProfile numbers as Decimal) to int/float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class StationProtocol(OperationsHandlers, ChargePoint):
    """One connection's OCPP endpoint of a `SimStation`."""

    def __init__(self, station: SimStation, connection: Any) -> None:
        super().__init__(station.station_id, connection, response_timeout=station.response_timeout)
        self.station = station

    async def route_message(self, raw_msg: Any) -> None:
        """Let the station see answers first (its transaction ids), then route as usual."""
        try:
            frame = json.loads(raw_msg)
        except (TypeError, ValueError):
            frame = None  # the library reports malformed frames
        if isinstance(frame, list) and len(frame) >= 3 and frame[0] == 3:
            self.station.on_call_result(str(frame[1]), frame[2])
        if (
            isinstance(frame, list)
            and len(frame) == 4
            and frame[0] == 2
            and self.station.refuse_before_boot(str(frame[2]))
        ):
            # Strict firmware: nothing is handled before the BootNotification was answered.
            log.info("%s: %s refused before the boot answer", self.station.station_id, frame[2])
            error = [4, frame[1], "SecurityError", "BootNotification not answered yet", {}]
            await self._send(json.dumps(error))
            return
        await super().route_message(raw_msg)

    # -- configuration --------------------------------------------------------------------------

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        known, unknown = self.station.config.get(key)
        return call_result.GetConfiguration(
            configuration_key=[entry.to_ocpp() for entry in known], unknown_key=unknown
        )

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        station = self.station
        status = station.config.change(key, value)
        if status == "Accepted" and key == "MeterValueSampleInterval":
            now = station.clock.now()
            for c in station.model.connectors.values():
                if c.in_session:
                    c.next_sample_at = now + int(value)
        if status == "Accepted":
            station.defer(station.sync)
        return call_result.ChangeConfiguration(status=status)

    @after(Action.change_configuration)
    def after_change_configuration(self, **_: Any) -> None:
        self.station.run_deferred()

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> Any:
        self.station.defer(lambda: self.station.request_reset(type))
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    def after_reset(self, **_: Any) -> None:
        self.station.run_deferred()

    # -- smart charging -------------------------------------------------------------------------

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> Any:
        station = self.station
        station.sync()
        data = _plain(snake_to_camel_case(cs_charging_profiles))
        decision = station.model.set_profile(connector_id, data)
        if decision.accepted:
            station.defer(station.sync)
        else:
            log.info("%s: SetChargingProfile rejected: %s", station.station_id, decision.reason)
        return call_result.SetChargingProfile(status=decision.status)

    @after(Action.set_charging_profile)
    def after_set_charging_profile(self, **_: Any) -> None:
        self.station.run_deferred()

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **_: Any,
    ) -> Any:
        station = self.station
        station.sync()
        removed = station.model.clear_profiles(
            profile_id=id,
            connector_id=connector_id,
            purpose=charging_profile_purpose,
            stack_level=stack_level,
        )
        station.defer(station.sync)
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @after(Action.clear_charging_profile)
    def after_clear_charging_profile(self, **_: Any) -> None:
        self.station.run_deferred()

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **_: Any
    ) -> Any:
        station = self.station
        station.sync()
        rules = station.model.rules()
        unit = charging_rate_unit or rules.own_unit
        if not 0 <= connector_id <= station.sockets:
            return call_result.GetCompositeSchedule(status="Rejected")
        if unit in rules.allowed_units:
            schedule = station.model.composite(connector_id, duration, unit)
        else:
            schedule = sc.unknown_schedule(station.model.now, duration, unit)
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=sc.format_time(schedule.start),
            charging_schedule=schedule.to_ocpp(),
        )

    # -- transactions ---------------------------------------------------------------------------

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        station = self.station
        model = station.model
        station.sync()
        profile = None
        if charging_profile is not None:
            profile = _plain(snake_to_camel_case(charging_profile))
            if profile.get("chargingProfilePurpose") != sc.TX or model.reject_tx_profile:
                return call_result.RemoteStartTransaction(status="Rejected")
        if connector_id is None:
            free = [c for c in model.connectors.values() if not c.in_session and not c.inoperative]
            plugged = [c for c in free if c.ev is not None]
            candidates = plugged or free
            if not candidates:
                return call_result.RemoteStartTransaction(status="Rejected")
            connector_id = candidates[0].connector_id
        c = model.connectors.get(connector_id)
        if c is None or c.in_session or c.inoperative or blocks(c, id_tag, model.now):
            return call_result.RemoteStartTransaction(status="Rejected")
        authorize = station.config.flag("AuthorizeRemoteTxRequests")
        if c.ev is not None:
            cid = connector_id
            station.defer(
                lambda: station.start_session(cid, id_tag, authorize=authorize, profile=profile)
            )
        else:
            # Wait for the EV to be plugged in within ConnectionTimeOut.
            c.remote_id_tag = id_tag
            c.remote_until = station.clock.now() + station.config.integer("ConnectionTimeOut")
            c.remote_profile = profile
        return call_result.RemoteStartTransaction(status="Accepted")

    @after(Action.remote_start_transaction)
    def after_remote_start_transaction(self, **_: Any) -> None:
        self.station.run_deferred()

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id: int, **_: Any) -> Any:
        station = self.station
        cid = station.model.session_of(transaction_id)
        if cid is None:
            return call_result.RemoteStopTransaction(status="Rejected")
        station.defer(lambda: station.stop_session(cid, "Remote"))
        return call_result.RemoteStopTransaction(status="Accepted")

    @after(Action.remote_stop_transaction)
    def after_remote_stop_transaction(self, **_: Any) -> None:
        self.station.run_deferred()

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int, **_: Any) -> Any:
        station = self.station
        c = station.model.connectors.get(connector_id)
        if c is None:
            return call_result.UnlockConnector(status="NotSupported")
        if c.in_session:
            station.defer(lambda: station.stop_session(connector_id, "UnlockCommand"))
        return call_result.UnlockConnector(status="Unlocked")

    @after(Action.unlock_connector)
    def after_unlock_connector(self, **_: Any) -> None:
        self.station.run_deferred()

    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str, **_: Any) -> Any:
        station = self.station
        model = station.model
        if connector_id == 0:
            targets = list(model.connectors.values())
        elif connector_id in model.connectors:
            targets = [model.connectors[connector_id]]
        else:
            return call_result.ChangeAvailability(status="Rejected")
        station.sync()
        scheduled = False
        for c in targets:
            if type == "Operative":
                c.inoperative = c.inoperative_when_idle = False
            elif c.in_session:
                c.inoperative_when_idle = scheduled = True
            else:
                c.inoperative = True
        station.defer(station.sync)
        return call_result.ChangeAvailability(status="Scheduled" if scheduled else "Accepted")

    @after(Action.change_availability)
    def after_change_availability(self, **_: Any) -> None:
        self.station.run_deferred()

    # -- misc -----------------------------------------------------------------------------------

    @on(Action.trigger_message)
    def on_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> Any:
        station = self.station
        model = station.model
        if connector_id is not None and connector_id not in (0, *model.connectors):
            return call_result.TriggerMessage(status="Rejected")
        if requested_message == "BootNotification":
            station.defer(station.trigger_boot)
        elif requested_message == "Heartbeat":
            station.defer(station.queue_heartbeat)
        elif requested_message == "StatusNotification":
            ids = [connector_id] if connector_id is not None else [0, *model.connectors]
            states = [
                model.station_state()
                if cid == 0
                else StatusChanged(cid, model.connectors[cid].status)
                for cid in ids
            ]

            def send_statuses() -> None:
                for state in states:
                    station.queue_status(state.connector_id, state.status, state)

            station.defer(send_statuses)
        elif requested_message == "MeterValues":
            ids = [connector_id] if connector_id else list(model.connectors)

            def send_samples() -> None:
                for cid in ids:
                    station.queue_sample(model.sample(cid, "Trigger"))

            station.defer(send_samples)
        elif requested_message == "FirmwareStatusNotification":
            station.defer(station.maintenance.queue_firmware_status)
        elif requested_message == "DiagnosticsStatusNotification":
            station.defer(station.maintenance.queue_diagnostics_status)
        else:
            return call_result.TriggerMessage(status="NotImplemented")
        return call_result.TriggerMessage(status="Accepted")

    @after(Action.trigger_message)
    def after_trigger_message(self, **_: Any) -> None:
        self.station.run_deferred()

    # -- local authorization list ---------------------------------------------------------------

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> Any:
        version = self.station.local_list.current_version(self.station.config)
        return call_result.GetLocalListVersion(list_version=version)

    @on(Action.send_local_list)
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        entries = _plain(snake_to_camel_case(local_authorization_list or []))
        status = self.station.local_list.apply(
            self.station.config, list_version, update_type, entries
        )
        return call_result.SendLocalList(status=status)
