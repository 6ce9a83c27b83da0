"""Reservations (ReserveNow / CancelReservation) through the API and the CLI against a simulated
station: stored with the station's answer, honoured (another idTag cannot start, the reserved
one's StartTransaction carries the reservationId and ends it), cancelled and expired."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from csms.app import CentralSystem
from csms.sim.ev import SimEv
from tests.operations.helpers import SLOW, api, start_station
from tests.support.cli import csms, one_line_error


def iso_in(seconds: float) -> str:
    return datetime.fromtimestamp(time.time() + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_reservation_is_honoured_then_used(
    central_system: CentralSystem, sim_stations: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cs = central_system
    station = await start_station(sim_stations, cs)
    sid = station.station_id
    url = f"/api/v1/stations/{sid}"

    body = {"connector_id": 1, "id_tag": "DRIVER1", "expiry": iso_in(3600)}
    reservation = await api(cs, "POST", url + "/reservations", body)
    assert reservation["station_status"] == "Accepted" and reservation["state"] == "active"
    await station.wait_for(lambda: station.status(1) == "Reserved", SLOW)

    # Another driver cannot take it, neither remotely nor with a card.
    refused = await api(cs, "POST", url + "/remote-start", {"connector_id": 1, "id_tag": "X"}, 409)
    assert "answered Rejected to RemoteStartTransaction" in refused["detail"]
    station.plug_in(1, SimEv(id_tag="OTHER"))
    station.unplug(1)
    assert station.transaction_id(1) is None and station.status(1) == "Reserved"

    # The reserved driver plugs in: StartTransaction carries the reservation id and ends it.
    station.plug_in(1, SimEv(id_tag="DRIVER1"))
    tx = await station.wait_transaction(1, SLOW)
    stored = await cs.store.transactions.get(tx)
    assert stored is not None and stored.reservation_id == reservation["id"]
    (listed,) = await api(cs, "GET", url + "/reservations")
    assert listed["state"] == "used" and listed["transaction_id"] == tx

    # Occupied connector: the station's own status, one line, 409; connector 0: Rejected.
    code, _, err = await csms(capsys, cs, "reserve", sid, "1", "--id-tag", "D2", "--until",
                              iso_in(600))  # fmt: skip
    assert one_line_error(code, err) == f"csms: 409: station {sid} answered Occupied to ReserveNow"
    body = {"connector_id": 0, "id_tag": "D2", "expiry": iso_in(600)}
    answer = await api(cs, "POST", url + "/reservations", body, 409)
    assert answer["detail"] == f"station {sid} answered Rejected to ReserveNow"
    states = {r["station_status"] for r in await api(cs, "GET", url + "/reservations")}
    assert states == {"Accepted", "Occupied", "Rejected"}  # refusals are kept too
    body = {"connector_id": 2, "id_tag": "D2", "expiry": iso_in(-60)}
    answer = await api(cs, "POST", url + "/reservations", body, 422)
    assert "is not in the future" in answer["detail"]


async def test_reservation_cancelled_and_expired(
    central_system: CentralSystem, sim_stations: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cs = central_system
    station = await start_station(sim_stations, cs)
    sid = station.station_id
    url = f"/api/v1/stations/{sid}"

    code, out, _ = await csms(capsys, cs, "reserve", sid, "2", "--id-tag", "D3", "--until",
                              iso_in(3600))  # fmt: skip
    assert (
        code == 0 and out.startswith(f"{sid}: reservation ") and out.strip().endswith(": Accepted")
    )
    reservation_id = out.split()[2]
    await station.wait_for(lambda: station.status(2) == "Reserved", SLOW)
    code, out, _ = await csms(capsys, cs, "reserve", "cancel", sid, reservation_id)
    assert code == 0 and out.strip() == f"{sid}: reservation {reservation_id} cancelled"
    await station.wait_for(lambda: station.status(2) == "Available", SLOW)
    code, _, err = await csms(capsys, cs, "reserve", "cancel", sid, "424242")
    assert one_line_error(code, err) == f"csms: 404: reservation 424242 of station {sid} not found"

    # Expiry: the station frees the connector, the API shows the reservation expired.
    body = {"connector_id": 1, "id_tag": "D4", "expiry": iso_in(3)}
    short = await api(cs, "POST", url + "/reservations", body)
    await station.wait_for(lambda: station.status(1) == "Reserved", SLOW)
    await station.wait_for(lambda: station.status(1) == "Available", SLOW)
    listed = {r["id"]: r["state"] for r in await api(cs, "GET", url + "/reservations")}
    assert listed == {short["id"]: "expired", int(reservation_id): "cancelled"}

    await station.stop()
    code, _, err = await csms(capsys, cs, "reserve", sid, "1", "--id-tag", "D5", "--until",
                              iso_in(600))  # fmt: skip
    assert one_line_error(code, err) == f"csms: 409: station {sid} is offline"
