"""The change workflow of one station as a pure state machine: events and answers in, commands out.

`StationFlow` remembers what happened to the station (booted, (re)connected, a Reset accepted,
the time) and says what the shell does next, one command at a time:

    Pace(s)                 wait a moment after a boot or a connect (strict stations drop the link
                            under a burst of calls right after boot)
    TakeSnapshot(reason)    read every key; with `judge_boot` the snapshot also judges the changes
                            sent before that boot (verification after a reboot)
    SendQueued()            send the queued changes in order (`answer_mark`, `read_back_mark`)
    ConsiderReset()         reset if a change waits for a reboot and its policy allows it
                            (`reset_plan`)

The judgments on change records are pure functions that return `Mark`s (the new state of a
change) for the shell to store: `answer_mark` / `call_failed_mark` (ChangeConfiguration answer),
`read_back_mark` / `read_back_failed_mark` (GetConfiguration after an Accepted), `boot_marks` (the
snapshot after a boot), `reset_plan` (reboot policy against running transactions),
`reset_answer_marks` (the Reset answer), `drift_mark` (a later snapshot). The changes themselves
live in the store, not here: the shell loads them and hands them in, so a change the API queues
and the one a worker sends cannot disagree. Time is passed in: `now` of `StationFlow` is a
monotonic clock (the reboot timeout is a network timeout), `booted_at` and `sent_at` are domain
times.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from csms.config import changes as ch
from csms.config.catalog import lookup, spellings
from csms.config.desired import Drift
from csms.config.records import ChangeRecord


# -- commands ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Pace:
    """Wait `seconds` before talking to the station."""

    seconds: float


@dataclass(frozen=True, slots=True)
class TakeSnapshot:
    """Read every key. `judge_boot`: then judge the changes waiting for a reboot; `judge_from`
    is the boot's time (changes sent after it are not judged), None means the read's time."""

    reason: str
    judge_boot: bool = False
    judge_from: float | None = None


@dataclass(frozen=True, slots=True)
class SendQueued:
    """Send the station's queued changes in order."""


@dataclass(frozen=True, slots=True)
class ConsiderReset:
    """Reset the station if a change waits for a reboot and its policy allows it (`reset_plan`)."""


Command = Pace | TakeSnapshot | SendQueued | ConsiderReset


@dataclass(frozen=True, slots=True)
class Mark:
    """New fields for one change: `state` (None: unchanged) and `detail`; the station's answer
    `status`, the value it reported (when `has_reported`), and whether it was sent just now."""

    change_id: int
    state: str | None
    detail: str | None
    status: str | None = None
    reported: str | None = None
    has_reported: bool = False
    sent: bool = False

    def fields(self, now: float) -> dict[str, object]:
        """The store's columns for this mark (`sent_at` is `now` when `sent`)."""
        out: dict[str, object] = {"detail": self.detail}
        if self.state is not None:
            out["state"] = self.state
        if self.status is not None:
            out["status"] = self.status
        if self.has_reported:
            out["reported_value"] = self.reported
        if self.sent:
            out["sent_at"] = now
        return out


# -- the station's flow -----------------------------------------------------------------------
class StationFlow:
    """What one station's configuration worker does next (pure: no I/O, time passed in).

    Each wake-up is a round: `start_round`, then `next_command` until it answers None. The
    snapshot of a round is decided after its pause, so a boot reported during the pause is read
    by this round (once, not twice).
    """

    def __init__(self, pace_s: float = 2.0, reboot_timeout_s: float = 300.0) -> None:
        self.pace_s = pace_s
        self.reboot_timeout_s = reboot_timeout_s
        self._booted = False
        self._booted_at = 0.0
        self._connected = False
        self._reset_at: float | None = None
        self._stage: str | None = None
        self._no_boot = False  # a Reset was accepted but no boot followed in time
        self._read_connect = False

    # -- inputs --------------------------------------------------------------------------------
    def connected(self) -> None:
        """The station (re)connected: read it again (smart charging needs this connection's
        capabilities), unless a boot's read covers it."""
        self._connected = True

    def booted(self, at: float) -> None:
        """A BootNotification at domain time `at`: read and judge the changes sent before it."""
        self._booted = True
        self._booted_at = at

    def reset_accepted(self, now: float) -> None:
        """The station accepted a Reset at monotonic `now`; a boot should follow."""
        self._reset_at = now

    def wait_s(self, now: float) -> float | None:
        """How long the worker may sleep without news: until the reboot timeout, or forever."""
        if self._reset_at is None:
            return None
        return max(0.0, self.reboot_timeout_s - (now - self._reset_at))

    # -- outputs -------------------------------------------------------------------------------
    def start_round(self, now: float, online: bool) -> None:
        """Plan the work of one wake-up; `next_command` hands it out."""
        self._no_boot = self._reset_at is not None and now - self._reset_at >= self.reboot_timeout_s
        if not online:
            if self._no_boot:
                self._reset_at = None  # it reboots when it comes back; that boot verifies
            self._stage = None
            return
        self._stage = "pace"

    def next_command(self) -> Command | None:
        """The next command of this round, or None when the round is done."""
        if self._stage == "pace":
            self._stage = "snapshot"
            self._read_connect = self._connected
            if self._booted or self._connected:
                self._connected = False  # a connect during the pause is read next round
                return Pace(self.pace_s)
        if self._stage == "snapshot":
            self._stage = "send"
            snapshot = self._snapshot_due()
            if snapshot is not None:
                return snapshot
        if self._stage == "send":
            self._stage = "reset"
            return SendQueued()
        if self._stage == "reset":
            self._stage = None
            return ConsiderReset()
        return None

    def _snapshot_due(self) -> TakeSnapshot | None:
        if self._booted:
            self._booted = False
            self._reset_at = None
            return TakeSnapshot("boot", judge_boot=True, judge_from=self._booted_at)
        if self._no_boot:
            # A Reset that brought no BootNotification: judge the changes by a fresh read.
            self._reset_at = None
            return TakeSnapshot("verify", judge_boot=True)
        if self._read_connect:
            # A reconnect without a boot: smart charging still needs the capabilities read in
            # this connection before it sends a profile.
            return TakeSnapshot("connect")
        return None


# -- judgments on changes ---------------------------------------------------------------------
_ANSWER_DETAIL = {
    ch.REBOOT_REQUIRED: "takes effect after the station reboots (policy never)",
    ch.ACCEPTED: "write-only key: cannot be read back",
}


def answer_mark(change: ChangeRecord, status: str) -> Mark:
    """The change after the station's ChangeConfiguration answer `status` (state `verifying`
    means: read the key back now, `read_back_mark`)."""
    policy = change.reboot_policy
    state = ch.state_after_answer(status, lookup(change.key), policy)  # type: ignore[arg-type]
    detail = f"reboot pending ({policy})" if state == ch.REBOOT_PENDING else None
    detail = _ANSWER_DETAIL.get(state, detail)
    return Mark(change.id, state, detail, status=status, sent=True)


def call_failed_mark(change: ChangeRecord, error: str) -> Mark:
    """The change after its ChangeConfiguration got a CALLERROR or no answer."""
    return Mark(change.id, ch.FAILED, error)


def read_back_mark(change: ChangeRecord, values: Mapping[str, str | None]) -> Mark:
    """The change judged by the values the station reports (any spelling of its key)."""
    name = next((s for s in spellings(change.key) if s in values), None)
    reported = values.get(name) if name else None
    state, detail = ch.verify(change.key, change.value, name is not None, reported)
    return Mark(change.id, state, detail, reported=reported, has_reported=True)


def drift_mark(found: Drift) -> Mark:
    """A verified change a later snapshot contradicts (`drifted`), or matches again."""
    return Mark(
        found.change.id, found.state, found.detail, reported=found.reported, has_reported=True
    )


def read_back_failed_mark(change: ChangeRecord, error: str) -> Mark:
    """The change when reading its key back failed (not offline: then the snapshot decides)."""
    return Mark(change.id, ch.NOT_VERIFIED, f"read back failed: {error}")


def boot_marks(
    waiting: Iterable[ChangeRecord], values: Mapping[str, str | None], booted_at: float
) -> list[Mark]:
    """After a boot the snapshot `values` show whether values that waited for a reboot took
    effect. Only changes sent before that boot are judged by it."""
    return [
        read_back_mark(change, values)
        for change in waiting
        if change.state in ch.AWAITING_BOOT
        and change.sent_at is not None
        and change.sent_at <= booted_at
    ]


class OpenTransaction(Protocol):
    """What `still_running` reads of a stored open transaction (a `TransactionRecord`)."""

    @property
    def id(self) -> int: ...
    @property
    def connector_id(self) -> int: ...
    @property
    def created_at(self) -> float: ...


class ConnectorState(Protocol):
    """What `still_running` reads of a connector's last status (a `ConnectorRecord`)."""

    @property
    def connector_id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def updated_at(self) -> float: ...


@dataclass(frozen=True, slots=True)
class ResetPlan:
    """Send a Reset now (`reset`), or the marks that say why the reboot waits."""

    reset: bool
    marks: tuple[Mark, ...] = ()


def reset_plan(
    pending: Sequence[ChangeRecord],
    transactions: Sequence[OpenTransaction],
    connectors: Sequence[ConnectorState],
) -> ResetPlan:
    """Whether changes in `reboot-pending` get their Reset now.

    `now` resets at once; `when-idle` waits until no transaction still runs (`still_running`),
    and says so on each waiting change.
    """
    if not pending:
        return ResetPlan(False)
    running = still_running(transactions, connectors)
    if ch.reset_due((c.reboot_policy for c in pending), len(running)):
        return ResetPlan(True)
    ids = ", ".join(str(t.id) for t in running)
    detail = f"reboot waits until transaction {ids} ends (when-idle)"
    return ResetPlan(False, tuple(Mark(c.id, None, detail) for c in pending if c.detail != detail))


def reset_answer_marks(status: str, kind: str, waiting: Iterable[ChangeRecord]) -> list[Mark]:
    """Changes waiting for a reboot after the station's Reset answer: `rebooting` when it
    accepted, else `reboot-required` (the user resets later)."""
    if status == "Accepted":
        return [Mark(c.id, ch.REBOOTING, f"{kind} reset sent") for c in waiting]
    detail = f"station answered Reset {status}"
    return [Mark(c.id, ch.REBOOT_REQUIRED, detail) for c in waiting]


def still_running(
    transactions: Sequence[OpenTransaction], connectors: Sequence[ConnectorState]
) -> list[OpenTransaction]:
    """Open transactions that may really be charging.

    A StopTransaction can be lost for good (a station replaced, its queue wiped); such a
    transaction would block a `when-idle` reboot forever. One whose connector has reported
    Available since it started is over, whatever the table says.
    """
    available_since = {c.connector_id: c.updated_at for c in connectors if c.status == "Available"}
    return [
        t
        for t in transactions
        if available_since.get(t.connector_id, float("-inf")) <= t.created_at
    ]
