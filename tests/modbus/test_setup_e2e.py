"""Prerequisites over OCPP before Modbus control, and the offered set-up (acceptance 3)."""

from __future__ import annotations

from pathlib import Path

from tests.modbus.rig import Station, modbus_rig
from tests.support.waiting import eventually


async def test_writing_not_allowed_is_refused_and_the_offered_change_fixes_it(
    tmp_path: Path,
) -> None:
    station = Station("MB-1", config={"MbsSlaveTCPIPMode": "Off"})
    async with modbus_rig(tmp_path, [station]) as rig:
        channel = rig.channel("MB-1")
        await eventually(
            lambda: channel.blocked is not None and "MbsSlaveTCPIPMode" in channel.blocked, 60
        )
        status = (await rig.api("GET", "/api/v1/stations/MB-1/modbus")).json()
        assert status["ready"] is False
        assert [m["key"] for m in status["missing"]] == ["MbsSlaveTCPIPMode"]
        assert status["offered_changes"] == {"MbsSlaveTCPIPMode": "Socket"}
        assert "MbsSlaveTCPIPMode" in status["link"]["refused"]
        # Nothing is written while refused; the station stays under OCPP control meanwhile.
        await rig.plug_in("MB-1")
        await eventually(lambda: rig.station("MB-1").profiles != (), within_s=60)
        assert rig.slaves["MB-1"].ems.writes == 0
        rig.station("MB-1").unplug(1)
        await eventually(lambda: rig.station("MB-1").transaction_id(1) is None, 60)
        # The offered change, rebooting when idle, makes it controllable.
        response = await rig.api("POST", "/api/v1/stations/MB-1/modbus/setup",
                                 json={"reboot": "when-idle"})  # fmt: skip
        assert response.status_code == 200, response.text
        assert [c["key"] for c in response.json()] == ["MbsSlaveTCPIPMode"]
        await eventually(lambda: rig.station("MB-1").boots >= 2, within_s=90)
        await eventually(lambda: channel.blocked is None, within_s=90)
        # Our OCPP profiles are cleared: none may cap the Modbus setpoint.
        await eventually(lambda: rig.station("MB-1").profiles == (), within_s=60)
        await rig.plug_in("MB-1")
        await eventually(lambda: rig.slaves["MB-1"].ems.setpoint(1) is not None, within_s=60)
        status = (await rig.api("GET", "/api/v1/stations/MB-1/modbus")).json()
        assert status["ready"] is True and status["missing"] == []


async def test_a_station_without_the_licence_is_refused_naming_it(tmp_path: Path) -> None:
    async with modbus_rig(tmp_path, [Station("MB-1", licensed=False)]) as rig:
        channel = rig.channel("MB-1")
        await eventually(lambda: channel.blocked is not None and "licence" in channel.blocked, 60)
        status = (await rig.api("GET", "/api/v1/stations/MB-1/modbus")).json()
        keys = [m["key"] for m in status["missing"]]
        assert keys[0] == "FeatureLicenseKey"
        assert status["missing"][0]["needed"] is None  # bought, not configured
        assert {"Active-LoadBalancing", "MbsSlaveTCPIP", "MbsSlaveTCPIPMode"} <= set(keys)
