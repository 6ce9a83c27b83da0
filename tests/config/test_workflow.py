"""The change workflow as a pure state machine (csms/config/workflow.py): named table cases.

`StationFlow` cases feed events (boot, connect, Reset accepted, time, online or not) and list the
commands a worker gets. Life-cycle cases play a change through the judgments as the shell does
(ChangeConfiguration answer, read back, reboot policy against transactions, Reset answer, the
snapshot after the boot, later snapshots for drift) and list the states it passes through.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from csms.config import changes as ch
from csms.config import workflow as wf
from csms.config.desired import drift
from csms.config.records import ChangeRecord
from tests.support.records import connector_record, transaction_record

BOOT = wf.TakeSnapshot("boot", judge_boot=True, judge_from=5.0)
CONNECT = wf.TakeSnapshot("connect")
VERIFY = wf.TakeSnapshot("verify", judge_boot=True)
PACE = wf.Pace(2.0)
SEND = wf.SendQueued()
RESET = wf.ConsiderReset()


def play_flow(steps: list[tuple[Any, ...]]) -> list[wf.Command | str]:
    """Run `steps` against a fresh flow (pause 2 s, reboot timeout 300 s); the commands handed
    out, with "wait N" for each `wait` step (the worker's sleep without news). `round` starts a
    round and runs it to its end; `start`, `next` and `drain` do that in parts."""
    flow = wf.StationFlow(pace_s=2.0, reboot_timeout_s=300.0)
    out: list[wf.Command | str] = []
    for step in steps:
        match step:
            case ("booted", at):
                flow.booted(at)
            case ("connected",):
                flow.connected()
            case ("reset", now):
                flow.reset_accepted(now)
            case ("wait", now):
                out.append(f"wait {flow.wait_s(now)}")
            case ("start", now, online):
                flow.start_round(now, online)
            case ("next",):
                command = flow.next_command()
                assert command is not None
                out.append(command)
            case ("drain",):
                while (command := flow.next_command()) is not None:
                    out.append(command)
            case ("round", now, online):
                flow.start_round(now, online)
                while (command := flow.next_command()) is not None:
                    out.append(command)
            case _:
                raise AssertionError(f"unknown step {step!r}")
    return out


@pytest.mark.parametrize(
    ("name", "steps", "expected"),
    [
        ("a queued change on an online station is sent, then the reboot is considered",
         [("round", 0.0, True)], [SEND, RESET]),
        ("offline: nothing is sent, the change stays queued",
         [("round", 0.0, False)], []),
        ("a boot: pause, read and judge the waiting changes, then send",
         [("booted", 5.0), ("round", 0.0, True)], [PACE, BOOT, SEND, RESET]),
        ("a reconnect without a boot is read again (smart charging needs it)",
         [("connected",), ("round", 0.0, True)], [PACE, CONNECT, SEND, RESET]),
        ("a connect and a boot together are read once, as the boot",
         [("connected",), ("booted", 5.0), ("round", 0.0, True)], [PACE, BOOT, SEND, RESET]),
        ("a boot reported during the pause is read by this round",
         [("connected",), ("start", 0.0, True), ("next",), ("booted", 5.0), ("drain",)],
         [PACE, BOOT, SEND, RESET]),
        ("a connect during the pause is read in the next round",
         [("booted", 5.0), ("start", 0.0, True), ("next",), ("connected",), ("next",),
          ("next",), ("next",), ("round", 1.0, True)],
         [PACE, BOOT, SEND, RESET, PACE, CONNECT, SEND, RESET]),
        ("a boot is read once: the next round only sends",
         [("booted", 5.0), ("round", 0.0, True), ("round", 1.0, True)],
         [PACE, BOOT, SEND, RESET, SEND, RESET]),
        ("no news: the worker sleeps until woken",
         [("wait", 0.0)], ["wait None"]),
        ("after an accepted Reset the worker wakes at the reboot timeout",
         [("reset", 100.0), ("wait", 150.0), ("wait", 500.0)], ["wait 250.0", "wait 0.0"]),
        ("a Reset that brought no boot in time: judge the changes by a fresh read",
         [("reset", 0.0), ("round", 300.0, True), ("wait", 301.0)],
         [VERIFY, SEND, RESET, "wait None"]),
        ("before the reboot timeout a wake-up does not read",
         [("reset", 0.0), ("round", 299.0, True), ("wait", 299.0)],
         [SEND, RESET, "wait 1.0"]),
        ("a boot after the Reset ends the reboot wait",
         [("reset", 0.0), ("booted", 5.0), ("round", 10.0, True), ("wait", 10.0)],
         [PACE, BOOT, SEND, RESET, "wait None"]),
        ("offline at the reboot timeout: no read now, the boot when it returns verifies",
         [("reset", 0.0), ("round", 300.0, False), ("wait", 301.0), ("booted", 5.0),
          ("round", 400.0, True)],
         ["wait None", PACE, BOOT, SEND, RESET]),
    ],
)  # fmt: skip
def test_station_flow(name: str, steps: list[tuple[Any, ...]], expected: list[Any]) -> None:
    assert play_flow(steps) == expected


def change(key: str, value: str, policy: str) -> ChangeRecord:
    return ChangeRecord(
        id=1, station_id="A", key=key, value=value, forced=False, reboot_policy=policy,
        origin="api", state=ch.QUEUED, status=None, reported_value=None, detail=None,
        warnings=(), created_at=10.0, sent_at=None, finished_at=None, updated_at=10.0,
    )  # fmt: skip


def apply(record: ChangeRecord, mark: wf.Mark, now: float) -> ChangeRecord:
    """What the shell stores for a mark (ConfigService.apply)."""
    fields: dict[str, Any] = mark.fields(now)
    if mark.state in ch.SETTLED_STATES and record.finished_at is None:
        fields["finished_at"] = now
    return dataclasses.replace(record, **fields, updated_at=now)


TX = transaction_record(id=7, connector_id=1, created_at=5.0)


def play_change(record: ChangeRecord, steps: list[tuple[Any, ...]]) -> list[str]:
    """Play one change through the judgments; the states (and reset decisions) it passes."""
    trail: list[str] = []
    transactions: list[dict[str, Any]] = []
    connectors: list[dict[str, Any]] = []
    now = 20.0
    for step in steps:
        now += 10.0
        match step:
            case ("answer", status):
                record = apply(record, wf.answer_mark(record, status), now)
            case ("call failed",):
                record = apply(record, wf.call_failed_mark(record, "timeout"), now)
            case ("read back", values):
                assert record.state == ch.VERIFYING
                record = apply(record, wf.read_back_mark(record, values), now)
            case ("read back failed",):
                record = apply(record, wf.read_back_failed_mark(record, "timeout"), now)
            case ("transaction", running):
                transactions = [TX] if running else []
            case ("connector available",):
                connectors = [connector_record(connector_id=1, status="Available", updated_at=now)]
            case ("consider reset",):
                pending = [record] if record.state == ch.REBOOT_PENDING else []
                plan = wf.reset_plan(pending, transactions, connectors)
                for mark in plan.marks:
                    record = apply(record, mark, now)
                why = [f": {mark.detail}" for mark in plan.marks]
                trail.append("reset sent" if plan.reset else "".join(["no reset", *why]))
            case ("reset answer", status):
                waiting = [
                    r for r in [record] if r.state in (ch.REBOOT_PENDING, ch.REBOOT_REQUIRED)
                ]
                for mark in wf.reset_answer_marks(status, "Soft", waiting):
                    record = apply(record, mark, now)
            case ("boot", values):
                for mark in wf.boot_marks([record], values, booted_at=now - 1.0):
                    record = apply(record, mark, now)
            case ("boot before the send", values):
                for mark in wf.boot_marks([record], values, booted_at=0.0):
                    record = apply(record, mark, now)
            case ("snapshot", values):
                for found in drift([record], values, snapshot_id=9, read_from=now):
                    record = apply(record, wf.drift_mark(found), now)
            case _:
                raise AssertionError(f"unknown step {step!r}")
        trail.append(record.state)
    return trail


HB = ("HeartbeatInterval", "60")
PHASES = ("Phase-Connected", "L2L3L1")  # takes effect after a reboot (guide 5.3.3.4)


@pytest.mark.parametrize(
    ("name", "key", "policy", "steps", "expected"),
    [
        ("accepted and read back: verified", HB, "when-idle",
         [("answer", "Accepted"), ("read back", {"HeartbeatInterval": "60"})],
         [ch.VERIFYING, ch.VERIFIED]),
        ("accepted but the station shows another value: not verified", HB, "when-idle",
         [("answer", "Accepted"), ("read back", {"HeartbeatInterval": "300"})],
         [ch.VERIFYING, ch.NOT_VERIFIED]),
        ("accepted but the read back failed: not verified", HB, "never",
         [("answer", "Accepted"), ("read back failed",)], [ch.VERIFYING, ch.NOT_VERIFIED]),
        ("a write-only key cannot be read back: accepted",
         ("AuthorizationKey", "0123456789abcdef"), "when-idle",
         [("answer", "Accepted")], [ch.ACCEPTED]),
        ("Rejected", HB, "now", [("answer", "Rejected"), ("consider reset",)],
         [ch.REJECTED, "no reset", ch.REJECTED]),
        ("NotSupported", HB, "now", [("answer", "NotSupported")], [ch.NOT_SUPPORTED]),
        ("an answer OCPP does not know: failed", HB, "now", [("answer", "Maybe")], [ch.FAILED]),
        ("a CALLERROR or no answer: failed", HB, "now", [("call failed",)], [ch.FAILED]),
        ("RebootRequired, policy never: the user resets", HB, "never",
         [("answer", "RebootRequired"), ("consider reset",)],
         [ch.REBOOT_REQUIRED, "no reset", ch.REBOOT_REQUIRED]),
        ("RebootRequired, policy never, the user resets: verified after the boot", HB, "never",
         [("answer", "RebootRequired"), ("reset answer", "Accepted"),
          ("boot", {"HeartbeatInterval": "60"})],
         [ch.REBOOT_REQUIRED, ch.REBOOTING, ch.VERIFIED]),
        ("a reboot key accepted with policy never is read back at once", PHASES, "never",
         [("answer", "Accepted"), ("read back", {"Phase-Connected": "L2L3L1"})],
         [ch.VERIFYING, ch.VERIFIED]),
        ("RebootRequired, when-idle, idle station: reset, then verified by the boot", HB,
         "when-idle",
         [("answer", "RebootRequired"), ("consider reset",), ("reset answer", "Accepted"),
          ("boot", {"HeartbeatInterval": "60"})],
         [ch.REBOOT_PENDING, "reset sent", ch.REBOOT_PENDING, ch.REBOOTING, ch.VERIFIED]),
        ("a reboot key accepted, when-idle: the reboot waits for the transaction", PHASES,
         "when-idle",
         [("transaction", True), ("answer", "Accepted"), ("consider reset",),
          ("transaction", False), ("consider reset",), ("reset answer", "Accepted"),
          ("boot", {"Phase-Connected": "L2L3L1"})],
         [ch.QUEUED, ch.REBOOT_PENDING,
          "no reset: reboot waits until transaction 7 ends (when-idle)", ch.REBOOT_PENDING,
          ch.REBOOT_PENDING, "reset sent", ch.REBOOT_PENDING, ch.REBOOTING, ch.VERIFIED]),
        ("when-idle: a transaction whose connector is Available again does not block", HB,
         "when-idle",
         [("transaction", True), ("answer", "RebootRequired"), ("connector available",),
          ("consider reset",)],
         [ch.QUEUED, ch.REBOOT_PENDING, ch.REBOOT_PENDING, "reset sent", ch.REBOOT_PENDING]),
        ("RebootRequired, now: reset at once, even while charging", HB, "now",
         [("transaction", True), ("answer", "RebootRequired"), ("consider reset",)],
         [ch.QUEUED, ch.REBOOT_PENDING, "reset sent", ch.REBOOT_PENDING]),
        ("the station refuses the Reset: the user must reset", HB, "now",
         [("answer", "RebootRequired"), ("consider reset",), ("reset answer", "Rejected")],
         [ch.REBOOT_PENDING, "reset sent", ch.REBOOT_PENDING, ch.REBOOT_REQUIRED]),
        ("the boot shows the old value: not verified", PHASES, "now",
         [("answer", "Accepted"), ("reset answer", "Accepted"),
          ("boot", {"Phase-Connected": "L1L2L3"})],
         [ch.REBOOT_PENDING, ch.REBOOTING, ch.NOT_VERIFIED]),
        ("the key is gone after the boot: not verified", PHASES, "now",
         [("answer", "Accepted"), ("reset answer", "Accepted"), ("boot", {})],
         [ch.REBOOT_PENDING, ch.REBOOTING, ch.NOT_VERIFIED]),
        ("a boot before the change was sent does not judge it", HB, "never",
         [("answer", "RebootRequired"), ("boot before the send", {"HeartbeatInterval": "60"})],
         [ch.REBOOT_REQUIRED, ch.REBOOT_REQUIRED]),
        ("offline: a queued change waits, untouched by boots", HB, "now",
         [("boot", {"HeartbeatInterval": "60"}), ("consider reset",)],
         [ch.QUEUED, "no reset", ch.QUEUED]),
        ("drift: a later snapshot shows another value, then the value again", HB, "never",
         [("answer", "Accepted"), ("read back", {"HeartbeatInterval": "60"}),
          ("snapshot", {"HeartbeatInterval": "300"}), ("snapshot", {"HeartbeatInterval": "60"})],
         [ch.VERIFYING, ch.VERIFIED, ch.DRIFTED, ch.VERIFIED]),
    ],
)  # fmt: skip
def test_change_life(
    name: str, key: tuple[str, str], policy: str, steps: list[tuple[Any, ...]], expected: list[str]
) -> None:
    assert play_change(change(*key, policy), steps) == expected


def test_marks_store_only_what_they_say() -> None:
    record = change("HeartbeatInterval", "60", "when-idle")
    sent = wf.answer_mark(record, "RebootRequired")
    assert sent.fields(50.0) == {
        "state": ch.REBOOT_PENDING,
        "status": "RebootRequired",
        "detail": "reboot pending (when-idle)",
        "sent_at": 50.0,
    }
    waits = wf.Mark(record.id, None, "reboot waits until transaction 7 ends (when-idle)")
    assert waits.fields(60.0) == {"detail": "reboot waits until transaction 7 ends (when-idle)"}
    read = wf.read_back_mark(dataclasses.replace(record, state=ch.VERIFYING), {})
    assert read.fields(70.0) == {
        "state": ch.NOT_VERIFIED,
        "detail": "the station no longer reports this key",
        "reported_value": None,
    }


def test_a_waiting_reboot_is_explained_once() -> None:
    record = change("HeartbeatInterval", "60", "when-idle")
    pending = dataclasses.replace(record, state=ch.REBOOT_PENDING)
    first = wf.reset_plan([pending], [TX], [])
    assert not first.reset and len(first.marks) == 1
    explained = dataclasses.replace(pending, detail=first.marks[0].detail)
    assert wf.reset_plan([explained], [TX], []) == wf.ResetPlan(False)


def test_when_idle_ignores_a_transaction_whose_connector_is_available_again() -> None:
    transactions = [
        transaction_record(id=1, connector_id=1, created_at=100.0),  # its stop never arrived
        transaction_record(id=2, connector_id=2, created_at=100.0),
    ]
    connectors = [
        connector_record(connector_id=1, status="Available", updated_at=200.0),
        connector_record(connector_id=2, status="Charging", updated_at=200.0),
    ]
    assert [t.id for t in wf.still_running(transactions, connectors)] == [2]
    # Available reported before the transaction began says nothing about it.
    early = [connector_record(connector_id=1, status="Available", updated_at=50.0)]
    assert [t.id for t in wf.still_running(transactions[:1], early)] == [1]


def test_the_workflow_does_no_io() -> None:
    """Importing the workflow loads no asyncio, storage, OCPP or network module."""
    import subprocess
    import sys

    code = (
        "import sys, csms.config.workflow; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('asyncio', 'websockets', 'asyncpg', 'sqlite3', 'aiosqlite', 'ocpp', 'httpx') "
        "or m.startswith(('csms.storage', 'csms.ocpp'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
