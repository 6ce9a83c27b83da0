"""The alert shell: evaluates `rules.evaluate` every few seconds from stored state, logs each
transition once, and POSTs it to the webhook (retries with backoff; failures are logged and
never block the evaluation or the stations).

In a cluster every node evaluates (its API lists the active alerts), but each transition is
logged and posted by one node only (`reports`): a site's safe mode by the node leading the site
(only its loop knows), every other alert by the node holding the cluster's singleton lease. A
node taking a lease over already knows which alerts are active, so nothing is posted twice."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any, Protocol

import httpx

from csms.alerts import metrics
from csms.alerts.rules import (
    Alert,
    ConnectorState,
    FirmwareState,
    StationState,
    evaluate,
    transitions,
)
from csms.eventlog.meanings import error_meaning
from csms.operations.records import FirmwareState as FirmwareUpdate
from csms.settings import AlertSettings
from csms.storage import Store
from csms.storage.records import ConnectorRecord

log = logging.getLogger(__name__)

WEBHOOK_QUEUE = 1000
"""Webhook posts waiting beyond this are dropped (logged): a dead receiver costs no memory."""


def _meaning(c: ConnectorRecord) -> str:
    """A connector error's readable meaning, with the station's free-text info."""
    meaning = error_meaning(c.error_code, c.vendor_id, c.vendor_error_code)
    if c.info:
        meaning = f"{meaning} [{c.info}]" if meaning else c.info
    return meaning


class AlertReader(Protocol):
    """What the API uses of the alert service."""

    def active(self) -> list[Alert]: ...


class AlertService:
    def __init__(
        self,
        settings: AlertSettings,
        store: Store,
        clock: Callable[[], float],
        *,
        site_of: Callable[[str], str | None],
        safe_mode_sites: Callable[[], Mapping[str, float]],
        online: Callable[[str], bool],
        failed_firmware: Callable[[], Awaitable[Sequence[FirmwareUpdate]]],
        reports: Callable[[Alert], bool] = lambda alert: True,
    ) -> None:
        self.settings = settings
        self.reports = reports
        self.store = store
        self.clock = clock
        self.site_of = site_of
        self.safe_mode_sites = safe_mode_sites
        self.online = online
        self.failed_firmware = failed_firmware
        self._gauges = metrics.SiteGauges()
        self._active: dict[str, Alert] = {}
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(WEBHOOK_QUEUE)
        self.webhook_failures = 0
        self.reported = 0  # transitions this node logged (and queued for the webhook)

    def active(self) -> list[Alert]:
        return sorted(self._active.values(), key=lambda a: a.key)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            if self.settings.webhook_url:
                group.create_task(self._post_loop(self.settings.webhook_url))
            while True:
                try:
                    await self.check()
                except Exception:
                    log.exception("alerts: evaluation failed (retried)")
                await asyncio.sleep(self.settings.check_interval_s)

    async def check(self) -> list[Alert]:
        """Evaluate now; log and post what changed. Returns the active alerts."""
        now = self.clock()
        accepted = [row for row in await self.store.stations.all() if row.status == "accepted"]
        ids = {row.id for row in accepted}
        rows = [c for c in await self.store.stations.all_connectors() if c.station_id in ids]
        stations = [
            StationState(row.id, self.online(row.id), row.last_seen, self.site_of(row.id))
            for row in accepted
        ]
        connectors = [
            ConnectorState(
                c.station_id, c.connector_id, c.status, c.error_code, _meaning(c), c.updated_at
            )
            for c in rows
        ]
        firmware = [
            FirmwareState(f.station_id, f.status or "", f.steps[-1].at if f.steps else now)
            for f in await self.failed_firmware()
            if f.station_id in ids
        ]
        current = evaluate(
            stations,
            connectors,
            firmware,
            self.safe_mode_sites(),
            self.settings.offline_after_s,
            now,
        )
        change = transitions(self._active, current)
        # In a cluster another node may report a transition (it is still tracked here).
        change = replace(
            change,
            raised=tuple(a for a in change.raised if self.reports(a)),
            cleared=tuple(a for a in change.cleared if self.reports(a)),
        )
        for alert in change.raised:
            log.warning("alert raised: %s", alert.message)
            self._notify("raised", alert, now)
        for alert in change.cleared:
            log.info("alert cleared: %s", alert.message)
            self._notify("cleared", alert, now)
        # An alert keeps the time it was raised (a site's safe mode reports only "now").
        current = [replace(a, since=self._active[a.key].since) if a.key in self._active else a
                   for a in current]  # fmt: skip
        self._active = {a.key: a for a in current}
        await self._gauges.refresh(self.store.db, accepted, rows, self.online, current)
        return current

    def _notify(self, state: str, alert: Alert, now: float) -> None:
        self.reported += 1
        if not self.settings.webhook_url:
            return
        body = {"state": state, "at": now, **asdict(alert)}
        if self._outbox.full():
            log.warning("alerts: webhook backlog full; dropped %s %s", state, alert.key)
            return
        self._outbox.put_nowait(body)

    async def _post_loop(self, url: str) -> None:
        async with httpx.AsyncClient(timeout=self.settings.webhook_timeout_s) as client:
            while True:
                body = await self._outbox.get()
                await self._post(client, url, body)

    async def _post(self, client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> None:
        delay = 1.0
        attempts = self.settings.webhook_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                response = await client.post(
                    url, content=json.dumps(body), headers={"Content-Type": "application/json"}
                )
                if response.status_code < 300:
                    return
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            log.warning(
                "alerts: webhook POST %s failed (attempt %d of %d): %s",
                body["key"],
                attempt,
                attempts,
                problem,
            )
            if attempt < attempts:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        self.webhook_failures += 1
        log.error("alerts: webhook gave up on %s %s", body["state"], body["key"])
