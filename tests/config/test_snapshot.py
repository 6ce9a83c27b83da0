"""Table tests of snapshot parsing, GetConfiguration splitting and snapshot diffs (pure)."""

from __future__ import annotations

import pytest

from csms.config.records import entries_of, unknown_of
from csms.config.snapshot import (
    ConfigEntry,
    KeyDiff,
    as_values,
    chunks,
    diff_snapshots,
    follow_up_keys,
    max_keys_of,
    parse_get_configuration,
    same_read,
    shared_entry,
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


FOLLOW_UP = [
    # (received count, max keys, expected follow-up)
    ("complete, shorter than max", ["A", "B"], 35, []),
    ("complete, longer than max (station ignores its own limit)", ["A", "B", "C"], 2, []),
    ("cut at exactly max", ["A", "B"], 2, ["C", "D"]),
    ("max unknown", ["A", "B"], None, ["C", "D"]),
]


@pytest.mark.parametrize(
    ("received", "max_keys", "expected"), [c[1:] for c in FOLLOW_UP], ids=[c[0] for c in FOLLOW_UP]
)
def test_follow_up_keys(received: list[str], max_keys: int | None, expected: list[str]) -> None:
    wanted = ["A", "B", "C", "D", "E", "C"]
    assert follow_up_keys(received, ["E"], wanted, max_keys) == expected


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
