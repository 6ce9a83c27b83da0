"""Table tests of snapshot parsing, GetConfiguration splitting, the read rules and diffs (pure)."""

from __future__ import annotations

import pytest

from csms.config.records import entries_of, unknown_of
from csms.config.snapshot import (
    FULL_CHECK_EVERY_S,
    ConfigEntry,
    KeyDiff,
    absent_keys,
    as_values,
    chunks,
    diff_snapshots,
    full_check_due,
    max_keys_of,
    missing_keys,
    parse_get_configuration,
    same_read,
    shared_entry,
    whole_answer,
)


def test_parse_get_configuration() -> None:
    entries, unknown = parse_get_configuration(
        {
            "configurationKey": [
                {"key": "HeartbeatInterval", "readonly": False, "value": "900"},
                {"key": "AuthorizationKey", "readonly": False},
                {"key": "GetConfigurationMaxKeys", "readonly": True, "value": "35"},
            ],
            "unknownKey": ["Nope"],
        }
    )
    assert entries[0] == ConfigEntry("HeartbeatInterval", "900", False)
    assert entries[1].value is None
    assert unknown == ["Nope"]
    assert max_keys_of(entries) == 35
    assert parse_get_configuration({}) == ([], [])


@pytest.mark.parametrize(
    ("value", "expected"), [("35", 35), (" 5 ", 5), ("0", None), ("x", None), (None, None)]
)
def test_max_keys_of(value: str | None, expected: int | None) -> None:
    assert max_keys_of([ConfigEntry("GetConfigurationMaxKeys", value, True)]) == expected


def test_chunks_respect_max_keys() -> None:
    keys = [f"K{i}" for i in range(71)]
    parts = chunks(keys, 35)
    assert [len(p) for p in parts] == [35, 35, 1]
    assert [k for part in parts for k in part] == keys
    assert chunks([], 35) == []
    assert chunks(["a", "b"], 0) == [["a"], ["b"]]


WHOLE = [
    # (received keys, max keys, previous snapshot's keys or None, why the answer is whole)
    ("shorter than max", ["A", "B"], 35, None, "count"),
    ("longer than max (station ignores its own limit)", ["A", "B", "C"], 2, None, "count"),
    ("cut at exactly max", ["A", "B"], 2, None, None),
    ("max unknown, nothing learnt", ["A", "B"], None, None, None),
    ("max unknown, the previous snapshot's key set", ["B", "A"], None, ["A", "B"], "same keys"),
    ("exactly max, but the previous snapshot's key set", ["A", "B"], 2, ["A", "B"], "same keys"),
    ("the cut of a station the last read completed", ["A", "B"], 2, ["A", "B", "C"], None),
    ("a key more than last time", ["A", "B", "C"], None, ["A", "B"], None),
    ("a key fewer than last time", ["A"], None, ["A", "B"], None),
    ("empty (a refused read), max known", [], 35, None, None),
    ("empty, and so was the previous snapshot", [], None, [], None),
]


@pytest.mark.parametrize(
    ("received", "max_keys", "previous", "why"), [c[1:] for c in WHOLE], ids=[c[0] for c in WHOLE]
)
def test_whole_answer(
    received: list[str], max_keys: int | None, previous: list[str] | None, why: str | None
) -> None:
    assert whole_answer(received, max_keys, previous) == why


def test_missing_keys_skip_received_and_unknown_once_in_order() -> None:
    wanted = ["A", "B", "C", "D", "E", "C"]
    assert missing_keys(["A", "B"], ["E"], wanted) == ["C", "D"]
    assert missing_keys([], [], wanted) == ["A", "B", "C", "D", "E"]
    assert missing_keys(wanted, [], wanted) == []


ABSENT = [
    # (asked, answered, listed unknown, absent)
    ("all answered", ["A", "B"], ["A", "B"], [], []),
    ("the station lists the missing one", ["A", "B"], ["A"], ["B"], []),
    ("cut: asked keys only, one left out", ["A", "B", "C"], ["A", "B"], [], []),
    ("an answer of everything leaves B out", ["A", "B"], ["A", "X", "Y"], [], ["B"]),
    ("an answer of everything, B listed unknown", ["A", "B"], ["A", "X"], ["B"], []),
    ("an answer of everything holds none asked", ["A", "B", "A"], ["X"], [], ["A", "B"]),
    ("nothing answered", ["A"], [], [], []),
]


@pytest.mark.parametrize(
    ("asked", "answered", "unknown", "absent"),
    [c[1:] for c in ABSENT],
    ids=[c[0] for c in ABSENT],
)
def test_absent_keys(
    asked: list[str], answered: list[str], unknown: list[str], absent: list[str]
) -> None:
    assert absent_keys(asked, set(answered), unknown) == absent


DAY = FULL_CHECK_EVERY_S
DUE = [
    # (last full check at, its firmware, firmware now, now, due)
    (
        "never checked (a new station, or a snapshot from before the rule)",
        None,
        "5.8",
        "5.8",
        0,
        True,
    ),
    ("checked an hour ago, same firmware", 1000.0, "5.8", "5.8", 1000 + 3600, False),
    ("checked just under a day ago", 1000.0, "5.8", "5.8", 1000 + DAY - 1, False),
    ("checked a day ago", 1000.0, "5.8", "5.8", 1000 + DAY, True),
    ("another firmware since", 1000.0, "5.8", "5.9", 1001, True),
    ("firmware reported now, not then", 1000.0, None, "5.8", 1001, True),
    ("a station that reports no firmware", 1000.0, None, None, 1001, False),
    ("the clock went back past the check", 1000.0, "5.8", "5.8", 999, True),
]


@pytest.mark.parametrize(
    ("last_at", "last_firmware", "firmware", "now", "due"),
    [c[1:] for c in DUE],
    ids=[c[0] for c in DUE],
)
def test_full_check_due(
    last_at: float | None, last_firmware: str | None, firmware: str | None, now: float, due: bool
) -> None:
    assert full_check_due(last_at, last_firmware, firmware, now) is due
    assert full_check_due(last_at, last_firmware, firmware, now, every_s=10.0) is (
        due or last_at is None or now - last_at >= 10
    )


def test_diff_snapshots() -> None:
    old = {"A": "1", "B": "2", "C": "3", "D": None}
    new = {"A": "1", "B": "20", "D": "x", "E": "5"}
    assert diff_snapshots(old, new) == [
        KeyDiff("B", "changed", "2", "20"),
        KeyDiff("C", "removed", "3", None),
        KeyDiff("D", "changed", None, "x"),
        KeyDiff("E", "added", None, "5"),
    ]
    assert diff_snapshots(new, new) == []
    assert as_values([ConfigEntry("A", "1", False), ConfigEntry("A", "2", False)]) == {"A": "2"}


A, B = ConfigEntry("K1", "1", False), ConfigEntry("K2", None, True)


@pytest.mark.parametrize(
    ("previous_entries", "previous_unknown", "entries", "unknown", "same"),
    [
        (None, None, [A], [], False),  # no snapshot yet: store one
        ([A, B], [], [A, B], [], True),  # the same read only confirms the latest
        ((A, B), ("X",), [A, B], ["X"], True),  # tuples and lists alike
        ([A, B], [], [B, A], [], False),  # the reported order is kept, so it counts
        ([A], [], [ConfigEntry("K1", "2", False)], [], False),  # a value changed
        ([A], [], [ConfigEntry("K1", "1", True)], [], False),  # read-only changed
        ([A], [], [A, B], [], False),  # a key appeared
        ([A], ["X"], [A], [], False),  # an unknown key became known or vanished
        ([], [], [], [], True),  # an empty station stays empty
    ],
)
def test_same_read(
    previous_entries: list[ConfigEntry] | None,
    previous_unknown: list[str] | None,
    entries: list[ConfigEntry],
    unknown: list[str],
    same: bool,
) -> None:
    assert same_read(previous_entries, previous_unknown, entries, unknown) is same


def test_entries_are_shared_between_answers_and_stored_lists() -> None:
    answer = {"configurationKey": [{"key": "K1", "readonly": False, "value": "1"}]}
    (first,), _ = parse_get_configuration(answer)
    (second,), _ = parse_get_configuration(answer)
    assert first is second and first == A
    assert shared_entry("K1", "1", False) is first
    stored = entries_of('[["K1", "1", false], ["K2", null, true]]')
    assert stored == (A, B) and stored[0] is first
    assert entries_of("[]") == () and unknown_of('["X", "Y"]') == ("X", "Y")
