"""What the operator wants a station's keys to be, against what its snapshots show (pure).

- `desired_value`: the value of the latest change of a key that is still wanted (requested, on
  its way, verified or drifted); a rejected or failed change wants nothing.
- `drift`: a verified change whose key a later snapshot shows with another value has drifted (a
  reboot, an installer's laptop, a BootNotification answer overwriting HeartbeatInterval); a
  drifted change whose value is back is verified again.
- `heartbeat_interval`: the interval to answer a BootNotification with, since the station
  applies that answer to its HeartbeatInterval key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from csms.config import changes as ch
from csms.config.catalog import spellings
from csms.config.records import ChangeRecord

# Change states in which the operator still wants the change's value on the station.
WANTED_STATES = frozenset(
    {
        ch.QUEUED,
        ch.VERIFYING,
        ch.REBOOT_PENDING,
        ch.REBOOTING,
        ch.REBOOT_REQUIRED,
        ch.VERIFIED,
        ch.DRIFTED,
        ch.ACCEPTED,
    }
)
HEARTBEAT_INTERVAL = "HeartbeatInterval"


@dataclass(frozen=True, slots=True)
class Drift:
    """A change whose state a snapshot moves (to `drifted`, or back to `verified`)."""

    change: ChangeRecord
    state: str
    reported: str | None
    detail: str | None


def _same_key(change: ChangeRecord, key: str) -> bool:
    return key in spellings(change.key) or change.key in spellings(key)


def desired_value(changes: Iterable[ChangeRecord], key: str) -> str | None:
    """The value of the latest still-wanted change of `key` (any spelling), or None."""
    latest = None
    for change in changes:
        wanted = change.state in WANTED_STATES and _same_key(change, key)
        if wanted and (latest is None or change.id > latest.id):
            latest = change
    return None if latest is None else latest.value


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number > 0 else None


def heartbeat_interval(
    changes: Iterable[ChangeRecord], snapshot: Mapping[str, str | None] | None, default: int
) -> int:
    """The desired HeartbeatInterval: the latest wanted change, else the latest snapshot's value,
    else `default` (the central system's setting)."""
    for value in (
        desired_value(changes, HEARTBEAT_INTERVAL),
        None if snapshot is None else snapshot.get(HEARTBEAT_INTERVAL),
    ):
        number = _positive_int(value)
        if number is not None:
            return number
    return default


def drift(
    changes: Sequence[ChangeRecord],
    values: Mapping[str, str | None],
    snapshot_id: int,
    read_from: float,
) -> list[Drift]:
    """Verified/drifted changes whose state the snapshot `values` (read from `read_from` on)
    moves. Only the latest change of each key is judged, and only one that was settled before
    the read began (an older read cannot contradict a newer change)."""
    latest: dict[str, ChangeRecord] = {}
    for change in changes:
        canonical = spellings(change.key)[0]
        if canonical not in latest or change.id > latest[canonical].id:
            latest[canonical] = change
    out = []
    for change in latest.values():
        if change.state not in (ch.VERIFIED, ch.DRIFTED):
            continue
        if change.finished_at is None or change.finished_at > read_from:
            continue
        name = next((s for s in spellings(change.key) if s in values), None)
        reported = values.get(name) if name else None
        state = ch.verify(change.key, change.value, name is not None, reported)[0]
        if state == ch.VERIFIED and change.state == ch.DRIFTED:
            out.append(
                Drift(change, ch.VERIFIED, reported, f"matches again (snapshot {snapshot_id})")
            )
        elif state != ch.VERIFIED and change.state == ch.VERIFIED:
            shows = "no longer reports the key" if name is None else f"shows {reported!r}"
            detail = f"drifted: snapshot {snapshot_id} {shows}, not {change.value!r}"
            out.append(Drift(change, ch.DRIFTED, reported, detail))
    return out
