"""After a station boots, end to end (central system, simulated meter and stations over real
websockets): nothing before the boot answer, no profile before the station's capabilities were
read, the operator's HeartbeatInterval through reboots, and an unphased Current.Import."""

from __future__ import annotations

import json
from typing import Any

from tests.support.site_rig import SiteRig, StationSpec, eventually, site_rig

A, B = "ALF-0001", "ALF-0002"
CHANGES = "/api/v1/stations/{}/configuration/changes/{}"


def _calls_per_connection(frames: list[tuple[str, str]]) -> list[list[tuple[str, Any]]]:
    """Per connection (from each BootNotification on): ("boot-answer", None) where the answer
    arrived, and ("call", action) for every CALL the central system sent."""
    out: list[list[tuple[str, Any]]] = []
    boot_id = None
    for direction, text in frames:
        frame = json.loads(text)
        if direction == "out" and frame[0] == 2 and frame[2] == "BootNotification":
            out.append([])
            boot_id = frame[1]
        elif out and direction == "in" and frame[0] in (3, 4) and frame[1] == boot_id:
            out[-1].append(("boot-answer", None))
        elif out and direction == "in" and frame[0] == 2:
            out[-1].append(("call", frame[2]))
    return out


def _profiles_accepted(rig: SiteRig, station_id: str) -> int:
    return sum(
        1
        for _, c, status, _ in rig.results
        if c.station_id == station_id and c.action == "SetChargingProfile" and status == "Accepted"
    )


async def test_strict_watts_only_station_gets_nothing_early(tmp_path) -> None:
    spec = StationSpec(
        A,
        config={"ChargingScheduleAllowedChargingRateUnit": "Power"},
        options={"strict_boot": True, "record_frames": True},
    )
    async with site_rig(tmp_path, [spec]) as rig:
        station = rig.station(A)
        (shown,) = (await rig.api("GET", "/api/v1/sites/site"))["stations"]
        assert shown["capabilities_read"] is True
        await rig.plug_in(A)
        await eventually(lambda: any(c.kind == "increase" for _, c, _, _ in rig.results))
        accepted = _profiles_accepted(rig, A)
        status = await rig.api("POST", f"/api/v1/stations/{A}/reset", json={"type": "Soft"})
        assert status["status"] == "Accepted"
        await eventually(lambda: station.boots == 2, within_s=30)
        await station.wait_transaction(1, within_s=30)
        # Limits reach the new session too: profiles flow again after the second boot.
        await eventually(lambda: _profiles_accepted(rig, A) >= accepted + 2, within_s=30)

    assert station.refused_before_boot == []  # strict firmware saw no CALL before its answer
    connections = _calls_per_connection(station.frames)
    assert len(connections) == 2
    for seen in connections:
        actions = [action for kind, action in seen if kind == "call"]
        assert seen[0] == ("boot-answer", None), seen[:3]
        assert "SetChargingProfile" in actions
        first_profile = actions.index("SetChargingProfile")
        assert "GetConfiguration" in actions[:first_profile], actions[: first_profile + 1]
    refused = [
        (c.kind, status)
        for _, c, status, _ in rig.results
        if c.station_id == A and c.action == "SetChargingProfile" and status != "Accepted"
    ]
    assert refused == []  # never a profile in amps to a station that takes only watts


async def test_operator_heartbeat_interval_survives_a_reboot(tmp_path, database_url) -> None:
    async with site_rig(tmp_path, [StationSpec(A)], database_url=database_url) as rig:
        station = rig.station(A)
        url = f"/api/v1/stations/{A}/configuration"
        change = await rig.api("PUT", f"{url}/HeartbeatInterval", json={"value": "600"})

        async def state() -> str:
            return str((await rig.api("GET", CHANGES.format(A, change["id"])))["state"])

        assert change["state"] == "verified" and station.config.value("HeartbeatInterval") == "600"
        await rig.api("POST", f"/api/v1/stations/{A}/reset", json={"type": "Soft"})
        await eventually(lambda: station.boots == 2, within_s=30)
        # The boot answer carried the operator's interval, and the station applied it.
        assert station.config.value("HeartbeatInterval") == "600"
        await eventually(lambda: station.connects == 2)
        snapshot = await rig.api("GET", url, params={"refresh": "true"})
        values = {k["key"]: k["value"] for k in snapshot["keys"]}
        assert values["HeartbeatInterval"] == "600"
        assert await state() == "verified"

        # Someone changes it at the station: the next snapshot shows the drift ...
        station.config.set_internal("HeartbeatInterval", "120")
        await rig.api("GET", url, params={"refresh": "true"})
        drifted = await rig.api("GET", CHANGES.format(A, change["id"]))
        assert drifted["state"] == "drifted" and drifted["reported_value"] == "120"
        assert "drifted" in drifted["detail"]
        # ... and the next boot puts the operator's value back.
        await rig.api("POST", f"/api/v1/stations/{A}/reset", json={"type": "Soft"})
        await eventually(lambda: station.boots == 3, within_s=30)
        assert station.config.value("HeartbeatInterval") == "600"
        await rig.api("GET", url, params={"refresh": "true"})
        assert await state() == "verified"


async def test_unphased_current_shows_in_the_site_view(tmp_path) -> None:
    stations = [
        StationSpec(A, rotation="L2L3L1", options={"unphased_current": True}),
        StationSpec(B, rotation="L1L2L3", options={"unphased_current": True}),
    ]
    async with site_rig(tmp_path, stations, household_a=2.0) as rig:
        await rig.plug_in(A, phases=1)
        await rig.plug_in(B, phases=3)

        def measured() -> dict[str, list[float] | None]:
            view = rig.loop.model.connectors
            return {sid: view[(sid, 1)].measured_grid_a for sid in (A, B)}  # type: ignore[misc]

        await eventually(lambda: all(m is not None and max(m) > 5 for m in measured().values()))
        site = await rig.api("GET", "/api/v1/sites/site")
        shown = {c["station_id"]: c["measured_a"] for c in site["connectors"]}
        a1, a2, a3 = shown[A]
        assert a2 > 5 and a1 == a3 == 0  # one phase (from P / (V x I)), grid L2 by the rotation
        b1, b2, b3 = shown[B]
        assert min(b1, b2, b3) > 5 and b1 == b2 == b3
