"""JSON log lines: one object per line, tagged with the node and the station or site."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import orjson
import pytest

from csms.app import CentralSystem
from csms.logs import JsonFormatter, site_id_var, station_id_var
from tests.support.ocpp_client import raw_station
from tests.support.waiting import eventually


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Records of the `csms` loggers written as JSON lines into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter("node-test"))
    logger = logging.getLogger("csms")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _records(buffer: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in buffer.getvalue().splitlines() if line]


def test_a_record_names_node_station_and_site_from_the_context() -> None:
    formatter = JsonFormatter("node-1")
    record = logging.LogRecord("csms.x", logging.WARNING, __file__, 1, "over by %d A", (3,), None)
    station_token = station_id_var.set("ALF-0001")
    site_token = site_id_var.set("home")
    try:
        entry = orjson.loads(formatter.format(record))
    finally:
        station_id_var.reset(station_token)
        site_id_var.reset(site_token)
    assert entry["message"] == "over by 3 A"
    assert (entry["level"], entry["logger"], entry["node_id"]) == ("WARNING", "csms.x", "node-1")
    assert (entry["station_id"], entry["site_id"]) == ("ALF-0001", "home")
    # Outside any station's or site's task, the fields are left out rather than null.
    bare = orjson.loads(formatter.format(record))
    assert "station_id" not in bare and "site_id" not in bare


def test_a_traceback_stays_inside_its_line() -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        record = logging.LogRecord("csms.x", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    line = JsonFormatter("n").format(record)
    assert "\n" not in line
    assert "ValueError: bad value" in str(orjson.loads(line)["exc"])


async def test_the_session_tags_its_records_with_the_station(
    central_system: CentralSystem, json_lines: io.StringIO
) -> None:
    async with raw_station(central_system.ocpp_url, "LOG-7") as station:
        # A BootNotification without its required fields: the session logs the rejection.
        answer = await station.send_call("BootNotification", {"chargePointVendor": "Alfen BV"})
        assert answer[0] == 4  # a CALLERROR, and the session lives on

        def tagged() -> list[dict[str, object]]:
            return [r for r in _records(json_lines) if r.get("station_id") == "LOG-7"]

        await eventually(lambda: bool(tagged()), 10)
    assert all(r["node_id"] == "node-test" for r in tagged())
