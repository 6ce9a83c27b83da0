"""Security profile 2: TLS (wss://) plus HTTP Basic auth with the station's password."""

from __future__ import annotations

import base64
import ssl
import subprocess
from pathlib import Path

import pytest
from ocpp.v16 import call
from websockets.exceptions import InvalidStatus

from csms.app import running_central_system
from csms.auth import hash_password
from tests.support.databases import make_settings
from tests.support.ocpp_client import library_station


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_wss_with_basic_auth(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite3", tls_cert=cert, tls_key=key)
    async with running_central_system(settings) as cs:
        assert cs.ocpp_url.startswith("wss://")
        await cs.store.stations.create("SECURE-1", "accepted", 0)
        await cs.store.stations.set_password_hash("SECURE-1", hash_password("0123456789abcdef"))
        client_ssl = ssl.create_default_context(cafile=str(cert))
        auth = base64.b64encode(b"SECURE-1:0123456789abcdef").decode()
        async with library_station(
            cs.ocpp_url,
            "SECURE-1",
            ssl=client_ssl,
            additional_headers={"Authorization": f"Basic {auth}"},
        ) as cp:
            boot = await cp.call(
                call.BootNotification(charge_point_vendor="Alfen BV", charge_point_model="NG920")
            )
            assert boot.status == "Accepted"
        with pytest.raises(InvalidStatus) as refused:
            async with library_station(cs.ocpp_url, "SECURE-1", ssl=client_ssl):
                pass
        assert refused.value.response.status_code == 401
