"""Frames reach the session undecoded (bytes, parsed by orjson): a text frame that is not UTF-8
is a FormationViolation and the session stays; a text frame with non-ASCII text works as before."""

from __future__ import annotations

import json

import websockets

from csms.app import CentralSystem


async def test_text_frames_are_parsed_from_their_bytes(central_system: CentralSystem) -> None:
    cs = central_system
    async with websockets.connect(f"{cs.ocpp_url}/UTF-1", subprotocols=["ocpp1.6"]) as ws:
        await ws.send(b'[2, "u1", "Heartbeat", {"\xff": 1}]', text=True)
        assert json.loads(await ws.recv())[:3] == [4, "-1", "FormationViolation"]
        boot = {"chargePointVendor": "Ålfen BV", "chargePointModel": "NG920 – 61123"}
        await ws.send(json.dumps([2, "u2", "BootNotification", boot], ensure_ascii=False))
        answer = json.loads(await ws.recv())
        assert answer[:2] == [3, "u2"] and answer[2]["status"] == "Accepted"
        stored = await cs.store.stations.get("UTF-1")
        assert stored is not None and stored.vendor == "Ålfen BV"
