"""The thin shell around `StationFlow`: runs a station's rounds of configuration work.

Nothing runs while a station has nothing to do: something that happens to it (an event, a queued
change) starts a round in a task of the service, and the reboot timeout is a timer. Each round
asks the flow for its commands and carries them out through the service: reads,
ChangeConfiguration, Reset. It decides nothing itself: the answers go back into the pure
judgments of csms/config/workflow.py and their marks are stored. Calls go through the service's
`StationLink` (the registry), which keeps one CALL in flight per station and owns the timeout.
Tens of thousands of idle stations thus hold no task and no Event here (1.6 KB each).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from csms.config import changes as ch
from csms.config import workflow as wf
from csms.ocpp.errors import CallFailed, StationOffline

if TYPE_CHECKING:
    from csms.config.service import ConfigService

log = logging.getLogger(__name__)


class StationWorker:
    """Does one station's configuration work, in order, whenever something happens to it.

    Rounds never overlap: a wake-up during a round runs one more round after it.
    """

    __slots__ = ("_again", "_task", "_timer", "flow", "lock", "service", "station_id")

    def __init__(self, service: ConfigService, station_id: str) -> None:
        self.service = service
        self.station_id = station_id
        self.flow = wf.StationFlow(service.boot_delay_s, service.reboot_timeout_s)
        self._task: asyncio.Task[None] | None = None  # the rounds in progress
        self._again = False  # woken during a round
        self._timer: asyncio.TimerHandle | None = None  # the reboot timeout's wake-up
        # Serialises a Reset (and marking its changes) with the verification after a boot.
        self.lock = asyncio.Lock()

    def wake(self) -> None:
        """Look at the station now (a queued change, a transaction that ended)."""
        if self._task is not None:
            self._again = True
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            self._task = self.service.spawn(self._rounds(), f"config-{self.station_id}")
        except RuntimeError:
            # The service is not running: its next start looks at every online station.
            log.debug("%s: configuration service stopped; not woken", self.station_id)

    def booted(self, at: float) -> None:
        """The station booted (BootNotification at domain time `at`)."""
        self.flow.booted(at)
        self.wake()

    def connected(self) -> None:
        """The station (re)connected."""
        self.flow.connected()
        self.wake()

    def reset_accepted(self) -> None:
        """The station accepted a Reset: a boot should follow within the reboot timeout."""
        self.flow.reset_accepted(self._mono())

    def _mono(self) -> float:
        # The reboot timeout is a network timeout: the event loop's clock, not the domain clock.
        return asyncio.get_running_loop().time()

    async def _rounds(self) -> None:
        """Rounds until no wake-up came during the last one; then the timer, if the flow waits."""
        try:
            self._again = True
            while self._again:
                self._again = False
                await self._logged_round()
        finally:
            self._task = None
        wait_s = self.flow.wait_s(self._mono())
        if wait_s is not None:
            self._timer = asyncio.get_running_loop().call_later(wait_s, self.wake)

    async def _logged_round(self) -> None:
        try:
            await self._round()
        except StationOffline:
            log.info("%s went offline during configuration work", self.station_id)
        except CallFailed as exc:
            # A CALLERROR (e.g. NotImplemented for GetConfiguration) or a timeout: the
            # station's answer, not our failure. Logged and kept with its events.
            log.warning("%s: configuration work stopped: %s", self.station_id, exc)
            with contextlib.suppress(Exception):  # the log line above is the record then
                await self.service.records.events.record(
                    self.station_id,
                    "ConfigurationWorkFailed",
                    {"error": str(exc)},
                    self.service.clock(),
                )
        except Exception:
            log.exception("%s: configuration work failed", self.station_id)
        finally:
            if not self.service.link.is_online(self.station_id):
                await self.service.release(self.station_id)

    async def _round(self) -> None:
        flow, service = self.flow, self.service
        # Settings may be tuned on a running service (tests shorten the pause).
        flow.pace_s, flow.reboot_timeout_s = service.boot_delay_s, service.reboot_timeout_s
        flow.start_round(self._mono(), service.link.is_online(self.station_id))
        while (command := flow.next_command()) is not None:
            await self._run(command)

    async def _run(self, command: wf.Command) -> None:
        service, sid = self.service, self.station_id
        if isinstance(command, wf.Pace):
            await asyncio.sleep(command.seconds)  # pace post-boot work
        elif isinstance(command, wf.TakeSnapshot):
            at = service.clock() if command.judge_from is None else command.judge_from
            snapshot = await service.take_snapshot(sid, command.reason)
            if command.judge_boot:
                async with self.lock:
                    await service.verify_after_boot(snapshot, at)
        elif isinstance(command, wf.SendQueued):
            for record in await service.store.changes(sid, states=[ch.QUEUED]):
                service.answer_waiting(await service.send_change(record))
        elif isinstance(command, wf.ConsiderReset):
            await self._consider_reset()

    async def _consider_reset(self) -> None:
        service, sid = self.service, self.station_id
        pending = await service.store.changes(sid, states=[ch.REBOOT_PENDING])
        if not pending:
            return
        plan = wf.reset_plan(
            pending,
            await service.records.transactions.running(sid),
            await service.records.stations.connectors(sid),
        )
        for mark in plan.marks:
            await service.apply(mark)
        if plan.reset:
            status = await service.reset(sid, "Soft")
            log.info("%s: Reset Soft for %d change(s): %s", sid, len(pending), status)
