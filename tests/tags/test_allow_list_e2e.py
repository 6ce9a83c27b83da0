"""Acceptance 2 of issue 12: `allow-list` run through the CLI against simulated stations.

An unknown tag is refused, a tag added with `csms tags add` is accepted at the next Authorize,
a blocked or expired one and a child of a blocked parent are refused, and the station's local
list follows every change with a new version (differential; full after a mismatch).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call

from csms.app import CentralSystem, running_central_system
from csms.sim.ev import SimEv
from tests.support.cli import csms, csms_ok, one_line_error
from tests.support.databases import make_settings
from tests.support.ocpp_client import library_station
from tests.support.waiting import eventually


@pytest.fixture
async def allow_list_cs(tmp_path: Path) -> AsyncIterator[CentralSystem]:
    settings = make_settings(f"sqlite:///{tmp_path}/csms.sqlite3", authorization="allow-list")
    async with running_central_system(settings) as cs:
        yield cs


async def test_allow_list_through_the_cli(
    allow_list_cs: CentralSystem,
    sim_stations: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    cs = allow_list_cs
    (station,) = await sim_stations(1, cs.ocpp_url)
    sid = station.station_id
    # The first sync after the boot writes the (empty) full list.
    await eventually(lambda: station.local_list.updates != [])
    assert station.local_list.updates[0][0] == "Full"

    async with library_station(cs.ocpp_url, "READER") as reader:
        await reader.call(call.BootNotification(charge_point_model="m", charge_point_vendor="v"))

        async def status(tag: str) -> str:
            answer = await reader.call(call.Authorize(id_tag=tag))
            return str(answer.id_tag_info["status"])

        assert await status("CARD-1") == "Invalid"

        out = await csms_ok(capsys, cs, "tags", "add", "CARD-1", "--note", "driver one")
        assert "CARD-1" in out and "Accepted" in out
        assert await status("CARD-1") == "Accepted"
        await eventually(lambda: station.local_list.status("CARD-1") == "Accepted")
        v1 = station.local_list.version
        assert station.local_list.updates[-1] == ("Differential", v1)

        await csms_ok(capsys, cs, "tags", "block", "CARD-1")
        assert await status("CARD-1") == "Blocked"
        await eventually(lambda: station.local_list.status("CARD-1") == "Blocked")
        assert station.local_list.version > v1

        await csms_ok(capsys, cs, "tags", "add", "OLD-CARD", "--expiry", "2020-01-01")
        assert await status("OLD-CARD") == "Expired"

        await csms_ok(capsys, cs, "tags", "add", "FLEET")
        await csms_ok(capsys, cs, "tags", "add", "CHILD", "--parent", "FLEET")
        assert await status("CHILD") == "Accepted"
        v2 = station.local_list.version
        await csms_ok(capsys, cs, "tags", "block", "FLEET")
        answer = await reader.call(call.Authorize(id_tag="CHILD"))
        assert answer.id_tag_info == {"status": "Blocked", "parent_id_tag": "FLEET"}
        # The child's entry on the station follows its parent.
        await eventually(lambda: station.local_list.status("CHILD") == "Blocked")
        assert station.local_list.version > v2

        await csms_ok(capsys, cs, "tags", "remove", "OLD-CARD")
        await eventually(lambda: "OLD-CARD" not in station.local_list.entries)
        assert await status("OLD-CARD") == "Invalid"

    # A list changed behind our back (another system, a factory reset): the next sync finds
    # the version mismatch and sends the full list.
    station.local_list.version = 999
    station.local_list.entries = {}
    out = await csms_ok(capsys, cs, "local-list", "sync", sid)
    assert "Full" in out
    assert station.local_list.updates[-1][0] == "Full"
    assert station.local_list.status("CHILD") == "Blocked"
    assert "OLD-CARD" not in station.local_list.entries
    out = await csms_ok(capsys, cs, "local-list", "show", sid)
    assert f"station has {station.local_list.version}" in out

    # The simulated station charges for an accepted card and not for an unknown one.
    await csms_ok(capsys, cs, "tags", "unblock", "CARD-1")
    station.plug_in(1, SimEv(id_tag="CARD-1"))
    await station.wait_transaction(1, within_s=30)

    # Export and import round-trip through CSV.
    export = tmp_path / "tags.csv"
    await csms_ok(capsys, cs, "tags", "export", str(export))
    text = export.read_text()
    assert text.splitlines()[0] == "id_tag,status,expiry,parent_id_tag,station_id,note"
    assert "CHILD,Accepted,,FLEET,," in text
    (tmp_path / "more.csv").write_text("id_tag,status,note\nNEW-1,Accepted,imported\n")
    out = await csms_ok(capsys, cs, "tags", "import", str(tmp_path / "more.csv"))
    assert "imported 1 tags" in out
    await eventually(lambda: station.local_list.status("NEW-1") == "Accepted")


async def test_bad_tag_input_is_a_clear_error(
    allow_list_cs: CentralSystem, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cs = allow_list_cs
    code, _, err = await csms(capsys, cs, "tags", "add", "X" * 21)
    assert code == 1 and "must be 1-20 characters" in one_line_error(code, err)
    bad = tmp_path / "bad.csv"
    bad.write_text("id_tag,status\nOK-1,Accepted\nBAD,Lost\n")
    code, _, err = await csms(capsys, cs, "tags", "import", str(bad))
    assert code == 1 and "CSV line 3" in err and "Lost" in err
    # All or nothing: the good line was not imported either.
    assert await cs.tags.repo.get("OK-1") is None
    code, _, err = await csms(capsys, cs, "tags", "block", "NOPE")
    assert code == 1 and "404: id tag NOPE not found" in err
