"""Building the Modbus writers of the configured sites (called by the composition root)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from csms.modbus.control import ControlSettings
from csms.modbus.link import ModbusChannel, ModbusStations
from csms.settings import ChargingSettings, SiteSettings


def site_writers(
    sites: Sequence[SiteSettings],
    charging: ChargingSettings,
    clock: Callable[[], float] = time.time,
    poll_s: float = 1.0,
) -> dict[str, ModbusStations]:
    """One `ModbusStations` per site that has a station with `control = "modbus"`."""
    out: dict[str, ModbusStations] = {}
    for site in sites:
        settings = ControlSettings(
            deadband_a=charging.deadband_a,
            phase_dwell_s=site.pv_surplus.phase_switch_dwell_s,
            min_current_a=site.min_current_a,
        )
        channels = {
            s.id: ModbusChannel(
                s.id, s.modbus_host, s.modbus_port, settings=settings, clock=clock, poll_s=poll_s
            )
            for s in site.stations
            if s.control == "modbus" and s.modbus_host
        }
        if channels:
            out[site.id] = ModbusStations(channels)
    return out
