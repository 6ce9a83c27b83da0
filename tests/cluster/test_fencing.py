"""Fencing: nothing is sent for a site once this node no longer leads it in the loop's epoch,
and every profile sent carries the epoch in its id."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest

from csms.charging.profiles import profile_id, safe_default_profile
from csms.cluster.fencing import (
    _GUARDS,
    EPOCH_ID_STRIDE,
    Fence,
    FencedWriter,
    NotLeader,
    epoch_profile_id,
    guard_registers,
    profile_epoch,
    stamp,
)
from csms.modbus.client import AlfenModbus, ModbusError


class Check:
    """The lease check, switched by the test."""

    def __init__(self) -> None:
        self.leads: set[tuple[str, int]] = {("site", 3)}

    def valid(self, key: str, epoch: int) -> bool:
        return (key, epoch) in self.leads


def set_profile(pid: int = 3001) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": pid,
            "stackLevel": 5,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": []},
        },
    }


@pytest.mark.parametrize(
    ("action", "payload", "expected"),
    [
        pytest.param(
            "SetChargingProfile", set_profile(3001), set_profile(3001 + 3 * EPOCH_ID_STRIDE),
            id="profile id carries the epoch",
        ),
        pytest.param(
            "ClearChargingProfile", {"id": 1000}, {"id": 1000 + 3 * EPOCH_ID_STRIDE},
            id="a clear by id names the epoch's id",
        ),
        pytest.param(
            "ClearChargingProfile", {"connectorId": 1}, {"connectorId": 1},
            id="a clear by criteria is unchanged",
        ),
        pytest.param(
            "GetCompositeSchedule", {"connectorId": 1, "duration": 60},
            {"connectorId": 1, "duration": 60}, id="other actions unchanged",
        ),
    ],
)  # fmt: skip
def test_stamp(action: str, payload: dict[str, Any], expected: dict[str, Any]) -> None:
    before = copy.deepcopy(payload)
    assert stamp(action, payload, 3) == expected
    assert payload == before  # the planner's own payload is never changed


def test_every_id_we_use_reads_back_its_epoch() -> None:
    for purpose in ("ChargePointMaxProfile", "TxDefaultProfile", "TxProfile", "SafeSocketDefault"):
        for connector in (0, 1, 2):
            if purpose == "SafeSocketDefault" and connector == 0:
                continue
            pid = profile_id(purpose, connector)
            assert profile_epoch(pid) == 0
            for epoch in (1, 2, 77, 199_999):
                stamped = epoch_profile_id(pid, epoch)
                assert profile_epoch(stamped) == epoch
                assert stamped < 2**31


def test_a_real_profile_is_stamped() -> None:
    from csms.charging.profiles import ProfileCapabilities

    payload = safe_default_profile(16.0, ProfileCapabilities(), 1_700_000_000.0)
    got = stamp("SetChargingProfile", payload, 2)
    assert profile_epoch(got["csChargingProfiles"]["chargingProfileId"]) == 2


async def test_a_deposed_leader_sends_no_profile() -> None:
    check = Check()
    fence = Fence(check, "site", 3)
    sent: list[tuple[str, str, dict[str, Any]]] = []

    async def call(station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        sent.append((station_id, action, payload))
        return {"status": "Accepted"}

    fenced = fence.call(call)
    assert await fenced("st", "SetChargingProfile", set_profile()) == {"status": "Accepted"}
    assert profile_epoch(sent[-1][2]["csChargingProfiles"]["chargingProfileId"]) == 3
    check.leads.clear()  # the local view ran out
    for action, payload in (("SetChargingProfile", set_profile()), ("ClearChargingProfile", {})):
        with pytest.raises(NotLeader):
            await fenced("st", action, payload)
    assert len(sent) == 1 and fence.refused == 2
    # Reading the station is not a limit: it goes on (the loop stops soon anyway).
    await fenced("st", "GetCompositeSchedule", {"connectorId": 1, "duration": 60})
    assert sent[-1][1] == "GetCompositeSchedule"


async def test_a_loop_of_an_older_epoch_is_fenced_even_when_this_node_leads_again() -> None:
    check = Check()
    old, new = Fence(check, "site", 2), Fence(check, "site", 3)
    calls: list[str] = []

    async def call(station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        calls.append(action)
        return {}

    with pytest.raises(NotLeader):
        await old.call(call)("st", "SetChargingProfile", set_profile())
    await new.call(call)("st", "SetChargingProfile", set_profile())
    assert calls == ["SetChargingProfile"]


class RecordingWriter:
    """A LimitWriter that records the setpoints handed to it."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, Mapping[int, tuple[float, str, bool]], float | None]] = []
        self.channels: dict[str, Any] = {}

    def controls(self, station_id: str) -> bool:
        return True

    def write(
        self,
        station_id: str,
        setpoints: Mapping[int, tuple[float, str, bool]],
        surplus_a: float | None = None,
    ) -> None:
        self.writes.append((station_id, dict(setpoints), surplus_a))


def test_a_deposed_leader_hands_no_setpoint_to_the_modbus_writer() -> None:
    check = Check()
    inner = RecordingWriter()
    writer = FencedWriter(inner, Fence(check, "site", 3))  # type: ignore[arg-type]
    writer.write("st", {1: (10.0, "grid", False)}, 4.0)
    check.leads.clear()
    writer.write("st", {1: (12.0, "grid", False)}, 4.0)
    assert inner.writes == [("st", {1: (10.0, "grid", False)}, 4.0), ("st", {}, None)]


async def test_register_writes_check_the_current_fence() -> None:
    """The channel rewrites setpoints on its own as their validity runs down: the register
    write itself checks the fence; a later term swaps the fence, never stacks guards."""

    class Channel:
        def __init__(self) -> None:
            self.modbus = AlfenModbus("127.0.0.1", 1)

    written: list[tuple[int, float]] = []

    async def write_max_current(socket: int, amps: float) -> None:
        written.append((socket, amps))

    channel = Channel()
    channel.modbus.write_max_current = write_max_current  # type: ignore[method-assign]
    writer = RecordingWriter()
    writer.channels = {"st": channel}
    check = Check()
    guard_registers(writer, Fence(check, "site", 3))
    await channel.modbus.write_max_current(1, 10.0)
    check.leads.clear()
    with pytest.raises(ModbusError):
        await channel.modbus.write_max_current(1, 11.0)
    with pytest.raises(ModbusError):
        await channel.modbus.write_phases(1, 3)
    check.leads.add(("site", 4))
    guard_registers(writer, Fence(check, "site", 4))  # taken again, a new epoch
    await channel.modbus.write_max_current(1, 12.0)
    assert written == [(1, 10.0), (1, 12.0)]
    assert _GUARDS[channel.modbus].fence.epoch == 4
