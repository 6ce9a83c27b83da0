"""The site loop's read model: frozen copies of what it decided and delivered, which the views
render (no sockets; the loop is driven with events and an injected clock)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from csms import events
from csms.charging.loop import PROFILE_PAUSE_S
from csms.charging.views import site_view, station_view
from tests.charging.test_loop import WATTS_ONLY, A, Clock, charging_session, make_loop


def test_before_the_first_step_the_read_model_says_so() -> None:
    clock = Clock()
    read = make_loop(clock).read_model(clock.now)
    assert (read.now, read.updated_at, read.allocation) == (clock.now, None, None)
    assert read.meter_health["state"] == "none"  # a site without a meter says so
    (station,) = read.stations
    assert station.id == A and not station.capabilities_read and station.installed == ()
    assert [(c.station_id, c.connector_id, c.accepted_a) for c in read.connectors] == [(A, 1, None)]
    assert station.connectors == read.connectors


def test_a_read_model_is_a_frozen_copy_that_later_steps_do_not_change() -> None:
    clock = Clock()
    loop = make_loop(clock)
    before = loop.read_model(clock.now)
    charging_session(loop, clock)
    loop.on_event(events.SnapshotTaken(A, clock.now, 1, "boot", dict(WATTS_ONLY)))
    clock.now += PROFILE_PAUSE_S
    loop.step()
    after = loop.read_model(clock.now)

    assert before.updated_at is None and before.connectors[0].transaction_id is None
    assert after.updated_at == clock.now
    (connector,) = after.connectors
    assert connector.status == "Charging" and connector.transaction_id == 7
    assert connector.limit is not None and connector.allocation is not None
    assert connector.accepted_a is not None  # the safe default until a profile is accepted
    station = after.station(A)
    assert station is not None and station.capabilities_read
    assert station.capabilities.rate_unit == "W"
    with pytest.raises(dataclasses.FrozenInstanceError):
        after.updated_at = 0.0  # type: ignore[misc]


def test_the_views_render_the_read_model_as_json() -> None:
    clock = Clock()
    loop = make_loop(clock)
    charging_session(loop, clock)
    loop.step()
    read = loop.read_model(clock.now)
    site = site_view(read)
    station = read.station(A)
    assert station is not None
    charging = station_view(read, station)
    json.dumps([site, charging])  # plain JSON, no dataclass left in it
    assert site["connectors"] == charging["connectors"]
    limit = read.connectors[0].limit
    assert limit is not None and site["connectors"][0]["target_a"] == round(limit.value_a, 2)
    assert charging["site_id"] == "s" and charging["station_id"] == A
