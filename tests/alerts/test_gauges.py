"""The alert evaluation's gauges on both engines: open transactions counted at every check, the
energy total summed again only after a transaction closed."""

from __future__ import annotations

from csms.alerts.metrics import ENERGY_DELIVERED, TRANSACTIONS_ACTIVE, SiteGauges
from csms.storage import Store
from csms.storage.transactions import StartRequest, StopRequest

SENTINEL = -1.0


def gauge(metric: object) -> float:
    return float(metric._value.get())  # type: ignore[attr-defined]


async def start(store: Store, connector_id: int, meter_start: int) -> int:
    request = StartRequest("GAUGE-1", connector_id, "CARD", meter_start, f"t{connector_id}", 100.0)
    tx, _ = await store.transactions.start(request, 100.0)
    return tx


async def stop(store: Store, tx: int, meter_stop: int) -> None:
    request = StopRequest("GAUGE-1", tx, meter_stop, "t9", 200.0, "Local", None)
    assert await store.transactions.stop(request, 200.0) is not None


async def test_energy_is_summed_again_only_after_a_transaction_closed(store: Store) -> None:
    gauges = SiteGauges()

    async def refresh() -> None:
        await gauges.refresh(store.db, [], [], lambda _sid: True, [])

    a = await start(store, 1, 1000)
    b = await start(store, 2, 5000)
    await refresh()
    assert gauge(TRANSACTIONS_ACTIVE) == 2 and gauge(ENERGY_DELIVERED) == 0

    await stop(store, a, 4000)
    await refresh()
    assert gauge(TRANSACTIONS_ACTIVE) == 1 and gauge(ENERGY_DELIVERED) == 3000

    # Nothing closed since: the total is not summed again (the sentinel stays).
    ENERGY_DELIVERED.set(SENTINEL)
    await refresh()
    assert gauge(ENERGY_DELIVERED) == SENTINEL

    await stop(store, b, 5500)
    await refresh()
    assert gauge(TRANSACTIONS_ACTIVE) == 0 and gauge(ENERGY_DELIVERED) == 3500
