"""DSMR P1: telegrams (dsmr_parser, CRC-checked) over a real TCP socket, and DSMR-reader topics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable

import pytest
from dsmr_parser.exceptions import InvalidChecksumError
from dsmr_parser.parsers import TelegramParser
from prometheus_client import REGISTRY

from csms.meter.config import MeterSettings
from csms.meter.dsmr import DsmrReaderTopics, reading_from_telegram, telegram_parser
from csms.meter.health import MeterState
from csms.meter.poller import MeterPoller
from csms.meter.reading import InvalidReading, MeterReading

Phase = tuple[float, float, float, float]  # current A, import kW, export kW, voltage V


def telegram(phases: list[Phase | None], *, corrupt: bool = False) -> str:
    """A DSMR 5 telegram with a valid CRC16 (or a wrong one when `corrupt`)."""
    lines = [
        "/ISk5\\2MT382-1000",
        "",
        "1-3:0.2.8(50)",
        "0-0:1.0.0(240102192002W)",
        "0-0:96.1.1(4B384547303034303436333935353037)",
        "1-0:1.8.1(000004.426*kWh)",
        "1-0:1.8.2(000002.399*kWh)",
        "1-0:2.8.1(000002.444*kWh)",
        "1-0:2.8.2(000000.000*kWh)",
        "0-0:96.14.0(0002)",
        "1-0:1.7.0(00.244*kW)",
        "1-0:2.7.0(00.000*kW)",
    ]
    codes = {1: (32, 31, 21, 22), 2: (52, 51, 41, 42), 3: (72, 71, 61, 62)}
    for n, phase in enumerate(phases, start=1):
        if phase is None:
            continue
        amps, imported, exported, volts = phase
        v, i, pos, neg = codes[n]
        lines += [
            f"1-0:{v}.7.0({volts:05.1f}*V)",
            f"1-0:{i}.7.0({amps:03.0f}*A)",
            f"1-0:{pos}.7.0({imported:06.3f}*kW)",
            f"1-0:{neg}.7.0({exported:06.3f}*kW)",
        ]
    body = "\r\n".join(lines) + "\r\n!"
    crc = TelegramParser.crc16(body) ^ (0x1234 if corrupt else 0)
    return f"{body}{crc:04X}\r\n"


THREE_PHASE: list[Phase | None] = [
    (10, 2.3, 0.0, 230.0),  # import on L1
    (0, 0.0, 0.0, 231.0),
    (7, 0.0, 1.61, 229.0),  # PV export on L3
]


def test_telegram_gives_signed_current_per_phase() -> None:
    parsed = telegram_parser("5").parse(telegram(THREE_PHASE))
    reading = reading_from_telegram(parsed, at=1000.0, source="p1")
    assert reading.current_a == (10.0, 0.0, -7.0)
    assert reading.power_w == (2300.0, 0.0, -1610.0)
    assert reading.voltage_v == (230.0, 231.0, 229.0)
    assert reading.at == 1000.0


def test_bad_crc_is_refused_by_the_parser() -> None:
    with pytest.raises(InvalidChecksumError):
        telegram_parser("5").parse(telegram(THREE_PHASE, corrupt=True))


def test_single_phase_meter_reads_zero_on_l2_l3() -> None:
    parsed = telegram_parser("5").parse(telegram([(16, 0.0, 3.5, 230.0), None, None]))
    reading = reading_from_telegram(parsed, at=1.0)
    assert reading.current_a == (-16.0, 0.0, 0.0)
    assert reading.voltage_v is None


def test_current_without_per_phase_power_cannot_be_signed() -> None:
    text = telegram(THREE_PHASE)
    text = "\r\n".join(line for line in text.split("\r\n") if not line.startswith("1-0:62.7.0"))
    parser = TelegramParser(telegram_parser("5").telegram_specification, False)  # skip the CRC
    with pytest.raises(InvalidReading, match="L3 lacks"):
        reading_from_telegram(parser.parse(text), at=1.0)


def split_messages(prefix: str, values: dict[str, float | str]) -> list[tuple[str, str]]:
    return [(f"{prefix}/reading/{name}", str(value)) for name, value in values.items()]


DSMR_READER_VALUES: dict[str, float | str] = {
    "electricity_currently_delivered": 0.69,
    "phase_voltage_l1": 230.0,
    "phase_power_current_l1": 3,
    "phase_currently_delivered_l1": 0.69,
    "phase_currently_returned_l1": 0.0,
    "phase_power_current_l2": 0,
    "phase_currently_delivered_l2": 0.0,
    "phase_currently_returned_l2": 0.0,
    "phase_power_current_l3": 12,
    "phase_currently_delivered_l3": 0.0,
    "phase_currently_returned_l3": 2.76,
}


def test_dsmr_reader_split_topics_emit_once_all_phases_arrived() -> None:
    topics = DsmrReaderTopics("site1/dsmr")
    assert topics.subscriptions() == ["site1/dsmr/reading/#", "site1/dsmr/json"]
    out = [
        topics.feed(t, p.encode(), 5.0) for t, p in split_messages("site1/dsmr", DSMR_READER_VALUES)
    ]
    assert out[:-1] == [None] * (len(out) - 1)
    reading = out[-1]
    assert reading is not None
    assert reading.current_a == (3.0, 0.0, -12.0)
    assert reading.power_w == (690.0, 0.0, -2760.0)
    assert reading.voltage_v is None  # only L1's voltage was published
    # the next reading needs a fresh value of every field again
    assert topics.feed("site1/dsmr/reading/phase_power_current_l1", b"4", 6.0) is None
    assert topics.feed("other/topic", b"1", 6.0) is None


def test_dsmr_reader_json_topic() -> None:
    topics = DsmrReaderTopics()
    payload = json.dumps(
        DSMR_READER_VALUES | {"phase_voltage_l2": 231, "phase_voltage_l3": 229, "id": 7}
    )
    reading = topics.feed("dsmr/json", payload.encode(), 9.0)
    assert reading is not None
    assert reading.current_a == (3.0, 0.0, -12.0)
    assert reading.voltage_v == (230.0, 231.0, 229.0)


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("dsmr/reading/phase_power_current_l1", b"abc", "not a number"),
        ("dsmr/reading/phase_power_current_l1", b"nan", "is nan"),
        ("dsmr/json", b"{nope", "not JSON"),
        ("dsmr/json", b"[1, 2]", "not a JSON object"),
    ],
)
def test_dsmr_reader_bad_payloads(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidReading, match=reason):
        DsmrReaderTopics().feed(topic, payload, 1.0)


class P1Adapter:
    """A P1-to-network adapter: a TCP server pushing telegrams to whoever connects."""

    def __init__(self, telegrams: Callable[[], str], interval_s: float = 0.05) -> None:
        self.telegrams = telegrams
        self.interval_s = interval_s
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def _client(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        with contextlib.suppress(ConnectionError):
            while True:
                text = self.telegrams()
                # Split mid-telegram: a TCP stream has no message boundaries.
                writer.write(text[:40].encode())
                await writer.drain()
                writer.write(text[40:].encode())
                await writer.drain()
                await asyncio.sleep(self.interval_s)

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    def drop_clients(self) -> None:
        for writer in self.writers:
            writer.close()
        self.writers = []

    async def stop(self) -> None:
        self.drop_clients()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def wait_until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_dsmr_tcp_source_through_the_poller() -> None:
    sent = [0]

    def next_telegram() -> str:
        sent[0] += 1
        return telegram(THREE_PHASE, corrupt=sent[0] % 3 == 0)  # every third one is damaged

    adapter = P1Adapter(next_telegram)
    port = await adapter.start()
    site = f"p1-{uuid.uuid4().hex[:6]}"
    settings = MeterSettings(
        type="dsmr-tcp", port=port, poll_interval_s=0.1, reconnect_min_s=0.05, reconnect_max_s=0.1
    )
    readings: list[MeterReading] = []
    poller = MeterPoller(settings, readings.append, site_id=site, meter_timeout_s=5)
    task = asyncio.create_task(poller.run())
    try:
        await wait_until(lambda: len(readings) >= 3)
        assert {r.current_a for r in readings} == {(10.0, 0.0, -7.0)}
        assert readings[0].source == f"dsmr-tcp 127.0.0.1:{port}"
        assert poller.state is MeterState.OK
        errors = REGISTRY.get_sample_value("csms_meter_read_errors_total", {"site": site})
        assert errors is not None and errors >= 1  # the damaged telegrams
        assert "checksum" in (poller.health.last_error or "").lower()

        adapter.drop_clients()  # the adapter reboots: the poller reconnects by itself
        count = len(readings)
        await wait_until(lambda: adapter.connections >= 2 and len(readings) > count)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await adapter.stop()
