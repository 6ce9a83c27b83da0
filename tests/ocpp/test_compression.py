"""permessage-deflate is negotiated only when the `websocket_compression` setting asks for it."""

from __future__ import annotations

from pathlib import Path

import pytest
import websockets

from csms.app import running_central_system
from tests.support.databases import make_settings


@pytest.mark.parametrize(
    ("setting", "negotiated"), [("off", None), ("deflate", "permessage-deflate")]
)
async def test_deflate_is_negotiated_only_when_set(
    tmp_path: Path, setting: str, negotiated: str | None
) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path}/c.sqlite3", unknown_stations="accept", websocket_compression=setting
    )
    async with (
        running_central_system(settings) as cs,
        # The client offers deflate, as ocpp-rpc and many station firmwares do.
        websockets.connect(
            f"{cs.ocpp_url}/ST-DEFLATE", subprotocols=["ocpp1.6"], compression="deflate"
        ) as ws,
    ):
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
        if negotiated is None:
            assert extensions is None
        else:
            assert extensions is not None and extensions.startswith(negotiated)
        await ws.send('[2,"1","Heartbeat",{}]')
        assert (await ws.recv()).startswith('[3,"1",')
