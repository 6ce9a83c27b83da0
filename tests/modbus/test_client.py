"""The Modbus client against real pymodbus servers: the simulated station's slave for every
register of the reference, and a hand-made server for edge values (NaN, 0xFFFF, negative power)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping

import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from csms.modbus.client import AlfenModbus, ModbusError, ModbusUnreachable
from csms.modbus.registers import (
    SCN_FIELDS,
    SOCKET_FIELDS,
    STATION_FIELDS,
    encode,
    float32_registers,
)
from csms.sim.ev import SimEv
from tests.modbus.conftest import SlaveFactory
from tests.support.waiting import eventually

# Every register of the reference, by the name the map gives it.
REFERENCE = {
    200: {100: "name", 117: "manufacturer", 123: "firmware", 140: "platform", 157: "serial",
          174: "uptime_s", 1100: "active_max_current_a", 1102: "temperature_c",
          1104: "ocpp_state", 1105: "sockets", 1400: "scn_name", 1404: "scn_sockets",
          1405: "scn_consumption_l1_a", 1407: "scn_consumption_l2_a",
          1409: "scn_consumption_l3_a", 1411: "scn_actual_max_l1_a",
          1413: "scn_actual_max_l2_a", 1415: "scn_actual_max_l3_a", 1417: "scn_max_l1_a",
          1419: "scn_max_l2_a", 1421: "scn_max_l3_a", 1423: "scn_fallback_l1_s",
          1425: "scn_fallback_l2_s", 1427: "scn_fallback_l3_s", 1429: "scn_safe_current_a",
          1431: "scn_modbus_max_enabled"},
    1: {300: "meter_state", 306: "voltage_l1_v", 308: "voltage_l2_v", 310: "voltage_l3_v",
        320: "current_l1_a", 322: "current_l2_a", 324: "current_l3_a", 338: "power_l1_w",
        340: "power_l2_w", 342: "power_l3_w", 344: "power_w", 374: "energy_wh",
        1200: "availability", 1201: "mode3_state", 1206: "applied_max_current_a",
        1208: "validity_left_s", 1210: "modbus_max_current_a", 1212: "safe_current_a",
        1214: "setpoint_accounted", 1215: "phases"},
}  # fmt: skip


def test_the_map_holds_every_register_of_the_reference() -> None:
    station = {f.address: f.name for f in STATION_FIELDS + SCN_FIELDS}
    socket = {f.address: f.name for f in SOCKET_FIELDS}
    assert station == REFERENCE[200]
    assert socket == REFERENCE[1]


async def test_every_register_decodes_from_the_simulated_station(
    make_slave: SlaveFactory,
) -> None:
    slave = await make_slave(sockets=2, config={"Safe-MaxCurrent": "8.0"})
    station = slave.station
    station.connector(1).ev = SimEv(max_current_a=16, phases=3)
    station.connector(1).status = "Preparing"
    async with AlfenModbus("127.0.0.1", slave.port) as modbus:
        unit = await modbus.read_station(scn=True)
        await modbus.write_max_current(1, 13.5)
        sockets = [await modbus.read_socket(1), await modbus.read_socket(2)]
    assert unit.rejected == ()
    assert set(unit.values) == set(REFERENCE[200].values())
    assert unit.text("name") == "ALF-0001"
    assert unit.text("manufacturer") == "Alfen"
    assert unit.text("firmware") == station.firmware
    assert unit.text("serial") == station.serial
    assert unit.number("sockets") == 2.0
    assert unit.number("active_max_current_a") == 32.0
    assert unit.number("temperature_c") == 31.5
    assert unit.number("scn_safe_current_a") == 8.0
    uptime = unit.number("uptime_s")
    assert uptime is not None and uptime >= 0
    one, two = sockets
    assert one.values.rejected == () and two.values.rejected == ()
    assert set(one.values.values) == set(REFERENCE[1].values())
    assert one.mode3 == "B1" and two.mode3 == "A"
    assert one.values.number("voltage_l2_v") == 230.0
    assert one.values.number("modbus_max_current_a") == 13.5
    assert one.applied_a == 13.5  # the minimum of 13.5 and the socket's other limits
    assert one.accounted
    assert one.values.number("validity_left_s") == 60.0
    assert one.values.number("safe_current_a") == 8.0
    assert one.values.number("phases") == 3.0
    assert two.applied_a == 8.0  # never written: the safe current
    assert not two.accounted
    energy = one.values.number("energy_wh")
    assert energy is not None and math.isclose(energy, station.energy_wh(1))


async def test_writes_go_as_one_request_and_phases_and_validity_apply(
    make_slave: SlaveFactory,
) -> None:
    slave = await make_slave(sockets=1, config={"MbsSlaveTCPIPValidityTime": "5"})
    async with AlfenModbus("127.0.0.1", slave.port) as modbus:
        await modbus.write_max_current(1, 16.0)
        await modbus.write_phases(1, 1)
        reading = await modbus.read_socket(1)
        assert reading.values.number("phases") == 1.0
        assert slave.writes[0] == (1, 1210, [0x4180, 0x0000])  # one FC16 request, both words
        with pytest.raises(ModbusError, match="refused"):
            await modbus._guarded(
                "writing 1215",
                1,
                lambda: modbus._client.write_register(1215, 2, device_id=1),
            )
        # The validity runs out (simulated clock): the socket falls back to its safe current.
        slave.station.clock.advance(6)
        reading = await modbus.read_socket(1)
    assert not reading.accounted
    assert reading.applied_a == 6.0


async def test_a_station_without_writing_allowed_refuses_the_setpoint(
    make_slave: SlaveFactory,
) -> None:
    slave = await make_slave(licensed=False)
    async with AlfenModbus("127.0.0.1", slave.port) as modbus:
        with pytest.raises(ModbusError, match="illegal data address"):
            await modbus.write_max_current(1, 10.0)
        reading = await modbus.read_socket(1)
    assert reading.applied_a == 32.0  # no EMS limit in force


class HandMadeSlave:
    """A pymodbus server whose registers are given by hand (unit → address → value)."""

    def __init__(self, image: Mapping[int, Mapping[int, int]]) -> None:
        self.image = image
        self.server: ModbusTcpServer | None = None
        self.port = 0

    def _device(self, unit: int) -> SimDevice:
        async def action(
            fc: int, start: int, address: int, count: int, registers: list[int], values: object
        ) -> None:
            for a in range(address, address + count):
                registers[a - start] = self.image[unit].get(a, 0xFFFF)

        holding = [SimData(0, count=1500, datatype=DataType.REGISTERS)]
        bits = [SimData(0, datatype=DataType.BITS, readonly=True)]
        invalid = [SimData(0, datatype=DataType.INVALID)]
        return SimDevice(id=unit, simdata=(list(bits), list(bits), holding, invalid), action=action)

    async def start(self) -> int:
        self.server = ModbusTcpServer([self._device(u) for u in self.image],
                                      address=("127.0.0.1", 0))  # fmt: skip
        await self.server.serve_forever(background=True)
        self.port = int(self.server.transport.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        return self.port


@pytest.fixture
async def edge_slave() -> AsyncIterator[HandMadeSlave]:
    nan, inf = [0x7FC0, 0x0000], [0x7F80, 0x0000]
    socket: dict[int, int] = {}

    def put(address: int, registers: list[int]) -> None:
        for i, r in enumerate(registers):
            socket[address + i] = r

    by_name = {f.name: f for f in SOCKET_FIELDS}
    put(320, float32_registers(10.0))
    put(322, nan)  # NaN current
    put(324, inf)  # +Inf current
    put(338, float32_registers(-2300.0))  # negative power (export through the socket's meter)
    put(344, float32_registers(-2300.0))
    put(1201, encode(by_name["mode3_state"], "C2"))
    put(1206, float32_registers(16.0))
    # 1208 (u32) and 1214 (u16) left at 0xFFFF: reserved / not available
    slave = HandMadeSlave({200: {}, 1: socket})
    await slave.start()
    yield slave
    assert slave.server is not None
    await slave.server.shutdown()  # type: ignore[no-untyped-call]


async def test_nan_inf_and_0xffff_are_rejected_and_negative_power_passes(
    edge_slave: HandMadeSlave,
) -> None:
    async with AlfenModbus("127.0.0.1", edge_slave.port) as modbus:
        reading = await modbus.read_socket(1)
        unit = await modbus.read_station()
    assert reading.currents_a == (10.0, None, None)
    assert reading.values.number("power_l1_w") == -2300.0
    assert reading.values.number("power_w") == -2300.0
    assert reading.mode3 == "C2"
    assert reading.applied_a == 16.0
    assert reading.values.number("validity_left_s") is None
    assert reading.values.number("setpoint_accounted") is None
    assert {"current_l2_a", "current_l3_a", "validity_left_s", "setpoint_accounted",
            "energy_wh", "voltage_l1_v"} <= set(reading.values.rejected)  # fmt: skip
    assert unit.text("name") is None and "name" in unit.rejected


async def test_unreachable_is_one_clear_error() -> None:
    modbus = AlfenModbus("127.0.0.1", 1, timeout_s=1.0)
    with pytest.raises(
        ModbusUnreachable, match=r"cannot connect to the Modbus slave at 127\.0\.0\.1:1 "
    ):
        await modbus.connect()


@pytest.mark.parametrize("policy", ["drop-old", "refuse-new"])
async def test_one_master_at_a_time_like_older_firmware(
    make_slave: SlaveFactory, policy: str
) -> None:
    slave = await make_slave(second_master=policy)
    first = AlfenModbus("127.0.0.1", slave.port)
    second = AlfenModbus("127.0.0.1", slave.port)
    await first.connect()
    await eventually(lambda: slave.connections == 1)
    await second.connect()
    loser, winner = (first, second) if policy == "drop-old" else (second, first)
    await eventually(lambda: not loser.connected and slave.connections == 1, within_s=30)
    await winner.read_socket(1)
    with pytest.raises(ModbusUnreachable):
        await loser.read_socket(1)
    first.close()
    second.close()


async def test_an_idle_connection_is_closed(make_slave: SlaveFactory) -> None:
    slave = await make_slave(idle_close_s=0.5)
    modbus = AlfenModbus("127.0.0.1", slave.port)
    await modbus.connect()
    await eventually(lambda: not modbus.connected, within_s=30)
    modbus.close()
