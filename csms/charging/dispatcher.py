"""The dispatcher shell: runs the delivery planner's commands against stations.

The planner (pure) decides; this class only sends. It keeps one command per station in flight (the
planner marks the station busy), never wraps a call in its own timeout (the registry's response
timeout is the only one, so a late answer can never pair with the next request), records each
outcome in the planner, and picks again after every answer. A periodic full pick drives retries with
backoff and the renewal of TxProfile validity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Counter

from csms.charging.planner import Command, DeliveryPlanner
from csms.ocpp.errors import CallErrorReceived, CallFailed, CallTimeout, StationOffline

log = logging.getLogger(__name__)

# Every profile rewrite may be a flash write on the station (served by the API's `/metrics`).
PROFILE_WRITES = Counter(
    "csms_charging_profile_writes",
    "SetChargingProfile calls per station by outcome (each accepted one may be a flash write)",
    ["station", "outcome"],
)

Call = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]
ResultHook = Callable[[Command, str, float], None]


class Dispatcher:
    """Sends what `planner` decides through `call` (e.g. `StationRegistry.call`)."""

    def __init__(
        self,
        planner: DeliveryPlanner,
        call: Call,
        online: Callable[[str], bool],
        clock: Callable[[], float],
        *,
        tick_s: float = 0.5,
        on_result: ResultHook | None = None,
    ) -> None:
        self.planner = planner
        self.call = call
        self.online = online
        self.clock = clock
        self.tick_s = tick_s
        self.on_result = on_result
        self.sent = 0
        self._wake = asyncio.Event()
        self._full = True

    def wake(self, full: bool = False) -> None:
        """Pick again soon (after new targets, an answer, a (re)connect)."""
        self._full |= full
        self._wake.set()

    async def run(self) -> None:
        """Pick and send until cancelled; answers are handled in the same task group."""
        async with asyncio.TaskGroup() as group:
            loop = asyncio.get_running_loop()
            next_full = loop.time()
            while True:
                full = self._full or loop.time() >= next_full
                self._full = False
                self._wake.clear()
                if full:
                    next_full = loop.time() + self.tick_s
                for command in self.planner.next_commands(self.clock(), self.online, full=full):
                    self.sent += 1
                    group.create_task(self._send(command))
                # asyncio.timeout, not wait_for: in 3.11 wait_for can turn a cancellation into
                # a TimeoutError, and this loop would then never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, next_full - loop.time())):
                        await self._wake.wait()

    async def _send(self, command: Command) -> None:
        response: dict[str, Any] | None = None
        try:
            response = await self.call(command.station_id, command.action, command.payload)
            status = str(response.get("status", "Accepted"))
        except CallErrorReceived as exc:
            status = exc.code
        except CallTimeout:
            status = "Timeout"
        except StationOffline:
            status = "Offline"
        except CallFailed as exc:
            status = "Error"
            log.warning("%s %s failed: %s", command.station_id, command.action, exc)
        except Exception:
            # A bug must not take the site's control loop down with it; the planner retries.
            status = "Error"
            log.exception("%s %s failed unexpectedly", command.station_id, command.action)
        now = self.clock()
        if status != "Accepted" and command.action != "GetCompositeSchedule":
            log.info(
                "%s: %s %s on connector %s → %s",
                command.station_id,
                command.action,
                command.kind,
                command.connector_id,
                status,
            )
        if command.action == "SetChargingProfile" and status != "Offline":  # Offline: never sent
            outcome = "accepted" if status == "Accepted" else "not_accepted"
            PROFILE_WRITES.labels(command.station_id, outcome).inc()
        self.planner.on_result(command, status, now, response)
        if self.on_result is not None:
            self.on_result(command, status, now)
        self.wake()
