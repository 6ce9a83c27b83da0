"""Configuration snapshots as values: parsing GetConfiguration answers, splitting reads, diffs.

A snapshot is the whole key list of one station at one time. The history of snapshots shows what
changed on the station between reads, including changes an installer made locally with a laptop.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

# OCPP requires GetConfigurationMaxKeys; when a station hides it we ask in small batches.
FALLBACK_MAX_KEYS = 10
# How often a snapshot read asks again for the keys a station did not have (`full_check_due`).
FULL_CHECK_EVERY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One key as a station reported it."""

    key: str
    value: str | None
    readonly: bool


@dataclass(frozen=True, slots=True)
class KeyDiff:
    """How one key differs between two snapshots."""

    key: str
    change: Literal["added", "removed", "changed"]
    old: str | None
    new: str | None


@lru_cache(maxsize=16_384)
def shared_entry(key: str, value: str | None, readonly: bool) -> ConfigEntry:
    """The one shared `ConfigEntry` of (key, value, readonly).

    Stations of one model report the same keys and mostly the same values: during a reconnect
    storm thousands of answers hold the same few hundred entries. Sharing them makes building a
    snapshot a cache look-up per key and comparing two snapshots mostly identity checks.
    """
    return ConfigEntry(key, value, readonly)


def parse_get_configuration(response: Mapping[str, Any]) -> tuple[list[ConfigEntry], list[str]]:
    """Entries and unknown keys from a GetConfiguration.conf payload (camelCase JSON)."""
    entries = [
        shared_entry(
            str(item["key"]),
            None if item.get("value") is None else str(item["value"]),
            bool(item.get("readonly", False)),
        )
        for item in response.get("configurationKey") or []
        if isinstance(item, Mapping) and "key" in item
    ]
    unknown = [str(k) for k in response.get("unknownKey") or []]
    return entries, unknown


def max_keys_of(entries: Iterable[ConfigEntry], default: int | None = None) -> int | None:
    """The station's `GetConfigurationMaxKeys` from `entries`, or `default`."""
    for entry in entries:
        if entry.key == "GetConfigurationMaxKeys" and entry.value is not None:
            try:
                value = int(entry.value.strip())
            except ValueError:
                return default
            return value if value > 0 else default
    return default


def chunks(keys: Sequence[str], size: int) -> list[list[str]]:
    """`keys` in requests of at most `size` keys each (GetConfigurationMaxKeys)."""
    size = max(1, size)
    return [list(keys[i : i + size]) for i in range(0, len(keys), size)]


def whole_answer(
    received: Collection[str], max_keys: int | None, previous_keys: Collection[str] | None = None
) -> Literal["count", "same keys"] | None:
    """Why a GetConfiguration answer without a key list cannot have been cut (None: it may be).

    A station must return all keys then, but some cut the answer at `GetConfigurationMaxKeys`
    (`max_keys`: the value in the answer, else the one learnt last time). "count": the answer
    holds another number of keys, shorter or longer than a cut. "same keys": it holds exactly the
    keys of the previous snapshot (`previous_keys`; None when they are not to be trusted), which
    a cut answer cannot: the snapshot that completed a cut holds more keys than the cut. An empty
    answer is never whole (a refused read is empty).
    """
    keys = set(received)
    if not keys:
        return None
    if max_keys is not None and len(keys) != max_keys:
        return "count"
    if previous_keys is not None and keys == set(previous_keys):
        return "same keys"
    return None


def missing_keys(
    received: Iterable[str], unknown: Iterable[str], wanted: Iterable[str]
) -> list[str]:
    """The `wanted` keys (in order, once) neither received nor known to be unknown."""
    have = set(received) | set(unknown)
    return [key for key in dict.fromkeys(wanted) if key not in have]


def absent_keys(
    asked: Sequence[str], answered: Collection[str], unknown: Collection[str]
) -> list[str]:
    """Keys of a key-list request that the station does not have although it did not say so.

    Some stations answer every key they have whatever was asked: an answer holding keys that were
    not asked is such an answer, and an asked key it leaves out (without listing it unknown) is
    not there. An answer of asked keys only that leaves some out was cut at the station's limit:
    those keys stay undecided (asked again next time).
    """
    asked_set = set(asked)
    if all(key in asked_set for key in answered):
        return []
    return [key for key in dict.fromkeys(asked) if key not in answered and key not in unknown]


def full_check_due(
    last_at: float | None,
    last_firmware: str | None,
    firmware: str | None,
    now: float,
    every_s: float = FULL_CHECK_EVERY_S,
) -> bool:
    """Whether a snapshot read must ask again for every key, the ones found unknown included.

    A read remembers the keys a station does not have (and that it lists no
    `GetConfigurationMaxKeys`) with its snapshot; later reads skip them. They are asked again when
    no full check is stored (`last_at` None: a new station, or a snapshot from before this rule),
    when the station boots with another firmware than at the last full check (an update brings new
    keys), when that check is `every_s` old, or when the clock went back past it.
    """
    if last_at is None or firmware != last_firmware:
        return True
    return now < last_at or now - last_at >= every_s


def same_read(
    previous_entries: Sequence[ConfigEntry] | None,
    previous_unknown: Sequence[str] | None,
    entries: Sequence[ConfigEntry],
    unknown: Sequence[str],
) -> bool:
    """Whether a read found exactly the latest stored snapshot (None: there is none).

    Such a read only confirms the snapshot (its `checked_at`) instead of storing a new one.
    Order counts: the stored key list is kept as the station reported it.
    """
    if previous_entries is None or previous_unknown is None:
        return False
    return tuple(previous_entries) == tuple(entries) and tuple(previous_unknown) == tuple(unknown)


def as_values(entries: Iterable[ConfigEntry]) -> dict[str, str | None]:
    """Key → value of `entries` (later entries win)."""
    return {entry.key: entry.value for entry in entries}


def diff_snapshots(old: Mapping[str, str | None], new: Mapping[str, str | None]) -> list[KeyDiff]:
    """Keys added, removed or changed from `old` to `new`, sorted by key.

    Values are compared as the station wrote them: a station that starts reporting `32.0` instead
    of `32` did change something, and the user should see it.
    """
    out = []
    for key in sorted(set(old) | set(new)):
        if key not in old:
            out.append(KeyDiff(key, "added", None, new[key]))
        elif key not in new:
            out.append(KeyDiff(key, "removed", old[key], None))
        elif old[key] != new[key]:
            out.append(KeyDiff(key, "changed", old[key], new[key]))
    return out
