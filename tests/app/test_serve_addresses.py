"""`csms serve` prints addresses a station on the LAN can use (issue 10, item 17)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest
import websockets

from csms.cli.serve import addresses_text
from csms.net import interface_addresses, reachable_hosts, url_host

LAN = ["127.0.0.1", "192.168.1.20", "10.0.0.7", "169.254.3.4", "fd00::2", "fe80::1%eth0", "::1"]


@pytest.mark.parametrize(
    ("bound", "interfaces", "expected"),
    [
        pytest.param("0.0.0.0", LAN, ["192.168.1.20", "10.0.0.7", "127.0.0.1"], id="ipv4-any"),
        pytest.param("", LAN, ["192.168.1.20", "10.0.0.7", "127.0.0.1"], id="empty-is-any"),
        pytest.param(
            "::", LAN, ["192.168.1.20", "10.0.0.7", "fd00::2", "127.0.0.1"], id="ipv6-any"
        ),
        pytest.param("0.0.0.0", ["127.0.0.1"], ["127.0.0.1"], id="no-lan-interface"),
        pytest.param(
            "0.0.0.0",
            ["10.0.0.7", "10.0.0.7", "junk"],
            ["10.0.0.7", "127.0.0.1"],
            id="duplicates-and-junk",
        ),
        pytest.param("192.168.1.20", LAN, ["192.168.1.20"], id="specific-address"),
        pytest.param("127.0.0.1", LAN, ["127.0.0.1"], id="loopback-only"),
        pytest.param("csms.local", LAN, ["csms.local"], id="host-name"),
    ],
)
def test_reachable_hosts(bound: str, interfaces: list[str], expected: list[str]) -> None:
    assert reachable_hosts(bound, interfaces) == expected


def test_url_host_brackets_ipv6() -> None:
    assert [url_host(h) for h in ("10.0.0.7", "fd00::2", "[fd00::2]", "csms.local")] == [
        "10.0.0.7", "[fd00::2]", "[fd00::2]", "csms.local"
    ]  # fmt: skip


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux interfaces")
def test_interface_addresses_include_loopback() -> None:
    assert "127.0.0.1" in interface_addresses()


def test_addresses_text_marks_the_loopback_url() -> None:
    text = addresses_text(
        ["ws://10.0.0.7:9000/ocpp", "ws://127.0.0.1:9000/ocpp"], ["http://127.0.0.1:8080"]
    )
    assert text.splitlines() == [
        "Stations connect to: ws://10.0.0.7:9000/ocpp/{stationId}",
        "                     ws://127.0.0.1:9000/ocpp/{stationId}   (this machine only)",
        "API: http://127.0.0.1:8080  (OpenAPI docs: http://127.0.0.1:8080/docs)",
    ]
    # Bound to one address: one line each, as before.
    text = addresses_text(["ws://127.0.0.1:9000/ocpp"], ["http://127.0.0.1:8080"])
    assert text.splitlines()[0] == "Stations connect to: ws://127.0.0.1:9000/ocpp/{stationId}"


async def test_serve_on_every_interface_prints_urls_that_work(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "csms.cli", "serve", "--ocpp-host", "0.0.0.0", "--ocpp-port", "0",
        "--api-port", "0", "--unknown-stations", "accept",
        "--database-url", f"sqlite:///{tmp_path}/csms.sqlite3",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while not lines or not lines[-1].startswith("API: "):
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line, "serve ended before printing its addresses"
            lines.append(line.decode().rstrip())
        urls = re.findall(r"(wss?://\S+)/\{stationId\}", "\n".join(lines))
        hosts = [re.sub(r"^wss?://(.+):\d+/ocpp$", r"\1", u) for u in urls]
        assert hosts == [url_host(h) for h in reachable_hosts("0.0.0.0", interface_addresses())]
        assert "0.0.0.0" not in "\n".join(lines) and hosts[-1] == "127.0.0.1"
        for url in urls:  # each printed address really reaches the server
            async with websockets.connect(f"{url}/ADDR-1", subprotocols=["ocpp1.6"]) as ws:
                assert ws.subprotocol == "ocpp1.6"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
