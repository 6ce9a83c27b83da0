"""The Modbus channel (shell) against the simulated station's real pymodbus slave: writes, the
read-back proof, the dead-man, keep-alive, and a second master taking the connection."""

from __future__ import annotations

import asyncio
import random

from csms.meter.backoff import Backoff
from csms.modbus.client import AlfenModbus
from csms.modbus.control import ControlSettings, Setpoint
from csms.modbus.link import ModbusChannel, ModbusStations
from tests.modbus.conftest import SlaveFactory
from tests.support.waiting import eventually


def channel(port: int, **kwargs: object) -> ModbusChannel:
    """A channel allowed to write (as after a snapshot showing the prerequisites)."""
    ch = ModbusChannel(
        "ALF-0001", "127.0.0.1", port, poll_s=0.2,
        backoff=Backoff(0.2, 1.0, random.Random(1)), **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    ch.block(None)
    return ch


async def test_the_setpoint_is_written_proven_and_kept_alive(make_slave: SlaveFactory) -> None:
    slave = await make_slave(sockets=1, config={"MbsSlaveTCPIPValidityTime": "4"})
    proven: list[tuple[str, str]] = []
    ch = channel(slave.port, settings=ControlSettings(validity_s=4.0))
    stations = ModbusStations({"ALF-0001": ch})
    samples: list[tuple[str, int, float]] = []
    stations.attach(
        lambda s, c, v, at: samples.append((s, c, at)), lambda s, m: proven.append((s, m))
    )
    stations.write("ALF-0001", {1: (10.0, "grid", False)})
    task = asyncio.create_task(stations.run())
    try:
        await eventually(lambda: slave.ems.setpoint(1) == 10.0, within_s=30)
        await eventually(lambda: proven == [("ALF-0001", "modbus")], within_s=30)
        assert samples and samples[-1][:2] == ("ALF-0001", 1)
        # Re-written before the validity runs out, with no new target: the socket stays on it.
        writes = slave.ems.writes
        await eventually(lambda: slave.ems.writes >= writes + 2, within_s=30)
        assert slave.ems.accounted(1, slave.station.clock.now())
        assert stations.applied_a("ALF-0001", 1) == 10.0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # We stopped: the station falls back to its safe current once the validity runs out.
    await eventually(lambda: not slave.ems.accounted(1, slave.station.clock.now()), within_s=30)
    assert slave.ems.limit(1, slave.station.clock.now()) == 6.0


async def test_a_phase_switch_is_reported_once_a_reading_shows_it(
    make_slave: SlaveFactory,
) -> None:
    slave = await make_slave(sockets=1)
    ch = channel(slave.port)
    stations = ModbusStations({"ALF-0001": ch})
    switched: list[tuple[str, int, int]] = []
    stations.attach(
        lambda s, c, v, at: None, lambda s, m: None, lambda s, c, n, at: switched.append((s, c, n))
    )
    stations.write("ALF-0001", {1: (10.0, "pv", False)}, surplus_a=12.0)  # below 18 A summed
    task = asyncio.create_task(stations.run())
    try:
        await eventually(lambda: switched == [("ALF-0001", 1, 1)], within_s=30)
        assert slave.ems.phases(1) == 1 and ch.states[1].phases_proven
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_second_master_takes_the_connection_and_we_recover(
    make_slave: SlaveFactory,
) -> None:
    slave = await make_slave(sockets=1, second_master="drop-old")
    ch = channel(slave.port)
    ch.set_setpoints({1: Setpoint(1, 12.0)})
    task = asyncio.create_task(ch.run())
    intruder = AlfenModbus("127.0.0.1", slave.port)
    try:
        await eventually(lambda: ch.modbus.connected and slave.ems.setpoint(1) == 12.0, 30)
        await intruder.connect()  # like Home Assistant polling beside us
        # The station drops us; we reconnect (which drops the intruder) and keep control.
        await eventually(lambda: ch.connects >= 2 and ch.modbus.connected, within_s=30)
        await eventually(lambda: not intruder.connected, within_s=30)
        ch.set_setpoints({1: Setpoint(1, 8.0)})
        await eventually(lambda: slave.ems.setpoint(1) == 8.0, within_s=30)
        assert ch.error is None
    finally:
        intruder.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_blocked_channel_reads_but_never_writes(make_slave: SlaveFactory) -> None:
    slave = await make_slave(sockets=1)
    ch = channel(slave.port)
    ch.block("Modbus control refused: set MbsSlaveTCPIPMode to Socket")
    ch.set_setpoints({1: Setpoint(1, 12.0)})
    task = asyncio.create_task(ch.run())
    try:
        await eventually(lambda: 1 in ch.readings and slave.requests > 10, within_s=30)
        assert slave.ems.writes == 0
        ch.block(None)
        await eventually(lambda: slave.ems.setpoint(1) == 12.0, within_s=30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_refused_write_is_reported_and_retried(make_slave: SlaveFactory) -> None:
    slave = await make_slave(sockets=1, licensed=False)
    ch = channel(slave.port)
    ch.set_setpoints({1: Setpoint(1, 12.0)})
    task = asyncio.create_task(ch.run())
    try:
        await eventually(lambda: ch.error is not None and "refused" in ch.error, within_s=30)
        await eventually(lambda: ch.connects >= 2, within_s=30)  # retried after a backoff
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
