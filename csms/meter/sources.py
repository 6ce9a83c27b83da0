"""Meter sources: each holds one connection and streams readings until that connection fails.

`run(accept, reject)` returns only by raising `MeterUnreachable` (or being cancelled); values
that arrive but are unusable go to `reject(reason)` and the connection stays up. Reconnecting,
backoff and health belong to the poller. Every source closes its connection on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Protocol

import aiomqtt
from dsmr_parser.clients.telegram_buffer import TelegramBuffer  # type: ignore[import-untyped]
from dsmr_parser.exceptions import InvalidChecksumError, ParseError  # type: ignore[import-untyped]

from csms.meter.config import MeterSettings
from csms.meter.dsmr import DsmrReaderTopics, reading_from_telegram, telegram_parser
from csms.meter.modbus import MeterReadError, MeterUnreachable, ModbusMeter
from csms.meter.reading import InvalidReading, MeterReading

log = logging.getLogger(__name__)

Accept = Callable[[MeterReading], None]
Reject = Callable[[str], None]


def _raise_if_cancelled() -> None:
    """Re-raise a cancellation that a library's `asyncio.wait_for` swallowed.

    On Python 3.11, `wait_for` returns the result instead of raising CancelledError when the
    awaited future completes in the same loop pass as the cancel (fixed in 3.12); pymodbus and
    aiomqtt both use it. Without this check a cancelled poller could keep polling forever and
    hold up the TaskGroup that is shutting down.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class MeterSource(Protocol):
    """One connection to a meter, streaming readings."""

    description: str

    async def run(self, accept: Accept, reject: Reject) -> None:
        """Stream until the connection fails; raises `MeterUnreachable`."""
        ...


class ModbusSource:
    """Polls a Modbus TCP meter every `poll_interval_s` over one connection."""

    def __init__(self, settings: MeterSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.description = settings.describe()

    async def run(self, accept: Accept, reject: Reject) -> None:
        s = self.settings
        meter = ModbusMeter(s.host, s.port, s.unit, s.register_map(), s.timeout_s, self.clock)
        loop = asyncio.get_running_loop()
        try:
            await meter.connect()
            _raise_if_cancelled()
            log.info("meter %s: connected", self.description)
            next_poll = loop.time()
            while True:
                try:
                    reading = await meter.read()
                except MeterUnreachable:
                    raise
                except (MeterReadError, InvalidReading) as exc:
                    _raise_if_cancelled()
                    reject(str(exc))
                else:
                    _raise_if_cancelled()
                    accept(reading)
                # Fixed cadence; after a slow read, poll again at once rather than drift.
                next_poll = max(next_poll + s.poll_interval_s, loop.time())
                await asyncio.sleep(next_poll - loop.time())
        finally:
            meter.close()


class DsmrTcpSource:
    """P1 telegrams from a P1-to-network adapter (raw TCP), parsed with dsmr_parser."""

    def __init__(self, settings: MeterSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.description = settings.describe()
        self.source = f"dsmr-tcp {settings.host}:{settings.port}"

    async def run(self, accept: Accept, reject: Reject) -> None:
        s = self.settings
        parser = telegram_parser(s.dsmr_version)
        buffer = TelegramBuffer()
        try:
            async with asyncio.timeout(s.timeout_s):
                reader, writer = await asyncio.open_connection(s.host, s.port)
        except (OSError, TimeoutError) as exc:
            reason = str(exc) or "timeout"
            raise MeterUnreachable(f"cannot connect to {s.host}:{s.port}: {reason}") from exc
        try:
            log.info("meter %s: connected", self.description)
            while True:
                try:
                    async with asyncio.timeout(s.stream_idle_s):
                        data = await reader.read(4096)
                except TimeoutError:
                    raise MeterUnreachable(
                        f"no data from {s.host}:{s.port} for {s.stream_idle_s:g} s"
                    ) from None
                except OSError as exc:
                    raise MeterUnreachable(f"connection to {s.host}:{s.port}: {exc}") from exc
                if not data:
                    raise MeterUnreachable(f"{s.host}:{s.port} closed the connection")
                buffer.append(data.decode("ascii", errors="replace"))
                for text in buffer.get_all():
                    try:
                        accept(reading_from_telegram(parser.parse(text), self.clock(), self.source))
                    except (ParseError, InvalidChecksumError, InvalidReading) as exc:
                        reject(f"telegram rejected: {exc}")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class DsmrMqttSource:
    """DSMR-reader's MQTT topics (`<prefix>/reading/...`, `<prefix>/json`) via aiomqtt."""

    def __init__(self, settings: MeterSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.description = settings.describe()

    async def run(self, accept: Accept, reject: Reject) -> None:
        s = self.settings
        topics = DsmrReaderTopics(s.topic_prefix, source=f"dsmr-mqtt {s.host}:{s.port}")
        client = aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=None if s.password is None else s.password.get_secret_value(),
            identifier=f"csms-meter-{uuid.uuid4().hex[:12]}",
            timeout=s.timeout_s,
            keepalive=max(5, int(s.stream_idle_s)),
        )
        try:
            async with client:
                for topic in topics.subscriptions():
                    await client.subscribe(topic)
                    _raise_if_cancelled()
                log.info("meter %s: subscribed", self.description)
                messages = aiter(client.messages)
                while True:
                    try:
                        async with asyncio.timeout(s.stream_idle_s):
                            message = await anext(messages)
                    except TimeoutError:
                        raise MeterUnreachable(
                            f"no DSMR-reader message on {s.topic_prefix}/# "
                            f"for {s.stream_idle_s:g} s"
                        ) from None
                    _raise_if_cancelled()
                    # A retained value is old news: stamping it "now" would hide an outage.
                    if message.retain:
                        continue
                    payload = message.payload
                    if not isinstance(payload, bytes | str):
                        continue
                    try:
                        reading = topics.feed(str(message.topic), payload, self.clock())
                    except InvalidReading as exc:
                        reject(str(exc))
                        continue
                    if reading is not None:
                        accept(reading)
        except aiomqtt.MqttError as exc:
            raise MeterUnreachable(f"MQTT broker {s.host}:{s.port}: {exc}") from exc


def make_source(settings: MeterSettings, clock: Callable[[], float] = time.time) -> MeterSource:
    """The source for `settings.type` (`simulated` is Modbus TCP to a simulator)."""
    if settings.type in ("modbus", "simulated"):
        return ModbusSource(settings, clock)
    if settings.type == "dsmr-tcp":
        return DsmrTcpSource(settings, clock)
    if settings.type == "dsmr-mqtt":
        return DsmrMqttSource(settings, clock)
    raise ValueError(f"meter type {settings.type!r} has no source")
