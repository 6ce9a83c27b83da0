"""`ChargingService` built from its parts (a station link, the store, the bus, a clock), with no
central system: operator caps are checked, stored at the injected clock's time and applied."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from csms.charging.interfaces import CapError
from csms.charging.service import ChargingService
from csms.events import EventBus
from csms.settings import ChargingSettings, SiteSettings
from csms.storage import Store, open_database

NOW = 1234.5


class RecordingLink:
    """A StationLink whose stations are all offline; records every call it is asked to send."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((station_id, action, payload))
        return {"status": "Accepted"}

    def is_online(self, station_id: str) -> bool:
        return False

    def online_ids(self) -> list[str]:
        return []


SITE = SiteSettings.model_validate({"id": "home", "stations": [{"id": "A"}, {"id": "B"}]})


@pytest.fixture
async def records(tmp_path: Path) -> AsyncIterator[Store]:
    db = open_database(f"sqlite:///{tmp_path}/charging.sqlite3")
    await db.open()
    yield Store.on(db)
    await db.close()


def _service(records: Store, link: RecordingLink, enabled: bool = True) -> ChargingService:
    return ChargingService(
        ChargingSettings(enabled=enabled),
        [SITE],
        link=link,
        records=records,
        bus=EventBus(),
        clock=lambda: NOW,
    )


async def test_a_cap_is_stored_at_the_clocks_time_and_applied_at_once(records: Store) -> None:
    link = RecordingLink()
    service = _service(records, link)
    await service.set_cap("station", "B", 0, 10.0)
    await service.set_cap("connector", "A", 2, 8.0)
    caps = {(c.scope, c.target_id, c.connector_id): c for c in await service.store.caps()}
    assert set(caps) == {("station", "B", 0), ("connector", "A", 2)}
    assert {c.set_at for c in caps.values()} == {NOW}
    loop = service.sites["home"]
    assert loop.caps.station_a == {"B": 10.0}
    assert loop.caps.connector_a == {("A", 2): 8.0}
    assert link.calls == []  # nothing is sent before the loop runs and the stations connect


@pytest.mark.parametrize(
    ("scope", "target", "connector_id", "limit_a", "message"),
    [
        ("socket", "A", 1, 5.0, "cap scope must be one of"),
        ("site", "elsewhere", 0, 5.0, "site elsewhere is not configured"),
        ("station", "Z", 0, 5.0, "station Z belongs to no configured site"),
        ("connector", "A", 0, 5.0, "a connector cap needs a connector id"),
        ("site", "home", 0, 10001.0, "between 0 and 10000 A"),
    ],
)
async def test_a_bad_cap_is_refused_and_nothing_is_stored(
    records: Store, scope: str, target: str, connector_id: int, limit_a: float, message: str
) -> None:
    service = _service(records, RecordingLink())
    with pytest.raises(CapError, match=message):
        await service.set_cap(scope, target, connector_id, limit_a)
    assert await service.store.caps() == []


async def test_with_charging_off_there_is_no_loop_and_run_returns(records: Store) -> None:
    link = RecordingLink()
    service = _service(records, link, enabled=False)
    assert service.sites == {}
    assert service.site_of("A") is None
    await service.run()
    assert link.calls == []
