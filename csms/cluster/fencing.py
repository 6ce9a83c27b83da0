"""Fencing: a deposed leader never sends a limit.

`ChargingService` builds a site's loop only while this node leads the site, and hands it the
wrappers made here instead of the bare `call` and `LimitWriter`: every SetChargingProfile and
ClearChargingProfile, every setpoint handed to the Modbus writer and every register write of
its channels first checks that this node still leads the site in the epoch the loop was built
for (`LeaseKeeper.valid`, the local view that expires before the database's lease). A refused
send raises `NotLeader` (the dispatcher records it as never sent); a refused setpoint is
dropped.

Profiles carry their epoch so the stations can tell who sent a limit: in cluster mode the
chargingProfileId of every profile we send (and of every ClearChargingProfile by id) is the
single-node id + `EPOCH_ID_STRIDE` × epoch. Our ids are below 4,000, so `profile_epoch(id)` reads
the epoch back; a new leader's profile replaces the old one on the station by purpose and stack
level, as OCPP 1.6 says (the ids differ on purpose).
"""

from __future__ import annotations

import copy
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from prometheus_client import Counter

from csms.charging.writer import LimitWriter, OnPhases, OnProven, OnSample
from csms.cluster.leases import LeaseKeeper, LeaseRow
from csms.modbus.client import AlfenModbus, ModbusError
from csms.ocpp.errors import CallFailed

log = logging.getLogger(__name__)

Call = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]

FENCED_ACTIONS = frozenset({"SetChargingProfile", "ClearChargingProfile"})
EPOCH_ID_STRIDE = 10_000
"""chargingProfileId = our single-node id (< 4,000) + this × epoch."""
EPOCH_SLOTS = 200_000
"""Epochs wrap at this many (the id stays below 2^31, OCPP's integer)."""

REFUSED = Counter(
    "csms_cluster_fenced_sends",
    "Limits not sent because this node no longer leads the site (profiles, Modbus writes)",
    ["site", "path"],
)


class NotLeader(CallFailed):
    """This node does not lead the site in the loop's epoch: the limit is not sent."""

    def __init__(self, site_id: str, epoch: int) -> None:
        super().__init__(f"not the leader of site {site_id} in epoch {epoch}: nothing sent")
        self.site_id = site_id
        self.epoch = epoch


class LeaseCheck(Protocol):
    def valid(self, key: str, epoch: int) -> bool: ...


# -- pure: the epoch in the profile id -------------------------------------------------------
def epoch_profile_id(profile_id: int, epoch: int) -> int:
    """The id a profile carries when sent in `epoch`."""
    return profile_id + EPOCH_ID_STRIDE * (epoch % EPOCH_SLOTS)


def profile_epoch(profile_id: int) -> int:
    """The epoch a received profile id was sent in (0: a single node's id)."""
    return profile_id // EPOCH_ID_STRIDE


def stamp(action: str, payload: dict[str, Any], epoch: int) -> dict[str, Any]:
    """A copy of the payload whose profile id carries the epoch (the planner keeps its own)."""
    if action == "SetChargingProfile":
        out = copy.deepcopy(payload)
        profile = out["csChargingProfiles"]
        profile["chargingProfileId"] = epoch_profile_id(int(profile["chargingProfileId"]), epoch)
        return out
    if action == "ClearChargingProfile" and "id" in payload:
        return {**payload, "id": epoch_profile_id(int(payload["id"]), epoch)}
    return payload


# -- the shell: one fence per (site, epoch) ----------------------------------------------------
class Fence:
    """The lease check of one site in one epoch, with the count of refused sends."""

    def __init__(self, check: LeaseCheck, site_id: str, epoch: int) -> None:
        self.check = check
        self.site_id = site_id
        self.epoch = epoch
        self.refused = 0

    def holds(self) -> bool:
        return self.check.valid(self.site_id, self.epoch)

    def refuse(self, path: str) -> None:
        self.refused += 1
        REFUSED.labels(self.site_id, path).inc()

    def call(self, inner: Call) -> Call:
        """`inner` with the check before every profile sent or cleared (and the epoch in it)."""

        async def fenced(station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
            if action in FENCED_ACTIONS:
                if not self.holds():
                    self.refuse("ocpp")
                    raise NotLeader(self.site_id, self.epoch)
                payload = stamp(action, payload, self.epoch)
            return await inner(station_id, action, payload)

        return fenced

    def writer(self, inner: LimitWriter) -> LimitWriter:
        """`inner` with the check before every setpoint and every register write."""
        guard_registers(inner, self)
        return FencedWriter(inner, self)


class FencedWriter:
    """A `LimitWriter` that drops setpoints while its fence does not hold."""

    def __init__(self, inner: LimitWriter, fence: Fence) -> None:
        self.inner = inner
        self.fence = fence

    def controls(self, station_id: str) -> bool:
        return self.inner.controls(station_id)

    def write(
        self,
        station_id: str,
        setpoints: Mapping[int, tuple[float, str, bool]],
        surplus_a: float | None = None,
    ) -> None:
        if not self.fence.holds():
            self.fence.refuse("modbus")
            self.inner.write(station_id, {}, None)  # sockets left out get no writes
            return
        self.inner.write(station_id, setpoints, surplus_a)

    def block(self, station_id: str, reason: str | None) -> None:
        self.inner.block(station_id, reason)

    def applied_a(self, station_id: str, connector_id: int) -> float | None:
        return self.inner.applied_a(station_id, connector_id)

    def station_view(self, station_id: str) -> dict[str, Any] | None:
        return self.inner.station_view(station_id)

    def socket_view(self, station_id: str, connector_id: int) -> dict[str, Any] | None:
        return self.inner.socket_view(station_id, connector_id)

    def attach(
        self, on_sample: OnSample, on_proven: OnProven, on_phases: OnPhases | None = None
    ) -> None:
        self.inner.attach(on_sample, on_proven, on_phases)

    async def run(self) -> None:
        await self.inner.run()


class _RegisterGuard:
    """Checks the current fence before a channel's register writes (its own loop rewrites
    setpoints as their validity runs down, without asking the charging loop)."""

    def __init__(self, modbus: AlfenModbus, fence: Fence) -> None:
        self.fence = fence
        self.write_max_current = modbus.write_max_current
        self.write_phases = modbus.write_phases

    async def max_current(self, socket: int, amps: float) -> None:
        self._check()
        await self.write_max_current(socket, amps)

    async def phases(self, socket: int, phases: int) -> None:
        self._check()
        await self.write_phases(socket, phases)

    def _check(self) -> None:
        if not self.fence.holds():
            self.fence.refuse("modbus")
            raise ModbusError(f"not the leader of site {self.fence.site_id}: write not sent")


_GUARDS: weakref.WeakKeyDictionary[AlfenModbus, _RegisterGuard] = weakref.WeakKeyDictionary()


def guard_registers(writer: object, fence: Fence) -> None:
    """Put `fence` in front of the register writes of a Modbus writer's channels (once per
    connection object; a later term only swaps the fence)."""
    for channel in getattr(writer, "channels", {}).values():
        modbus = getattr(channel, "modbus", None)
        if not isinstance(modbus, AlfenModbus):
            continue
        guard = _GUARDS.get(modbus)
        if guard is None:
            guard = _GUARDS[modbus] = _RegisterGuard(modbus, fence)
            setattr(modbus, "write_max_current", guard.max_current)  # noqa: B010 - the instance
            setattr(modbus, "write_phases", guard.phases)  # noqa: B010 - not the class
        guard.fence = fence


# -- what ChargingService is handed ----------------------------------------------------------
class SiteLeadership:
    """The leases of this node as `ChargingService` uses them (its `Leadership` protocol)."""

    def __init__(self, keeper: LeaseKeeper) -> None:
        self.keeper = keeper
        self.node_id = keeper.node_id
        self.fences: dict[str, Fence] = {}  # the latest per site (tests read `refused`)

    def epoch(self, site_id: str) -> int | None:
        return self.keeper.epoch(site_id)

    async def wait_change(self) -> None:
        await self.keeper.wait_change()

    def leader(self, site_id: str) -> LeaseRow | None:
        return self.keeper.leader(site_id)

    def fence(self, site_id: str, epoch: int) -> Fence:
        fence = self.fences[site_id] = Fence(self.keeper, site_id, epoch)
        return fence
