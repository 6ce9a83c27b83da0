"""Pure decisions about id tags: what Authorize answers and what the local list holds.

No I/O and no clock: the time is passed in. Table-tested in tests/tags/test_model.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

TagStatus = Literal["Accepted", "Blocked", "Expired"]
TAG_STATUSES: tuple[str, ...] = ("Accepted", "Blocked", "Expired")
REMOVED = "Removed"
"""A removed tag's row stays with this status, so a differential list update can remove it."""


@dataclass(frozen=True, slots=True)
class Tag:
    """An id tag as the operator keeps it."""

    id_tag: str
    status: str
    expiry_at: float | None = None
    parent_id_tag: str | None = None
    station_id: str | None = None
    """Only valid at this station (None: every station)."""
    note: str | None = None
    version: int = 0
    """The local-list version at which the tag (or its parent) last changed."""
    created_at: float = 0.0
    updated_at: float | None = None

    @property
    def removed(self) -> bool:
        return self.status == REMOVED


@dataclass(frozen=True, slots=True)
class IdTagInfo:
    """OCPP 1.6 IdTagInfo."""

    status: str
    expiry_at: float | None = None
    parent_id_tag: str | None = None

    def to_ocpp(self) -> dict[str, Any]:
        info: dict[str, Any] = {"status": self.status}
        if self.expiry_at is not None:
            info["expiryDate"] = iso(self.expiry_at)
        if self.parent_id_tag is not None:
            info["parentIdTag"] = self.parent_id_tag
        return info


INVALID = IdTagInfo("Invalid")
ACCEPTED = IdTagInfo("Accepted")


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _effective_status(tag: Tag, now: float) -> str:
    if tag.status == "Blocked":
        return "Blocked"
    if tag.status == "Expired" or (tag.expiry_at is not None and tag.expiry_at <= now):
        return "Expired"
    return "Accepted"


def id_tag_info(
    tag: Tag | None, parent: Tag | None, station_id: str | None, now: float, *, accept_unknown: bool
) -> IdTagInfo:
    """What the central system answers to Authorize / StartTransaction for `tag`.

    An unknown (or removed) tag is Accepted only under `accept-all`; a known tag's own status
    counts under both policies (a blocked card stays blocked). A tag restricted to another
    station is Invalid here. A child of a blocked or expired parent gets the parent's status.
    """
    if tag is None or tag.removed:
        return ACCEPTED if accept_unknown else INVALID
    if tag.station_id is not None and station_id is not None and tag.station_id != station_id:
        return IdTagInfo("Invalid", parent_id_tag=tag.parent_id_tag)
    status = _effective_status(tag, now)
    if status == "Accepted" and parent is not None and not parent.removed:
        status = _effective_status(parent, now)
    return IdTagInfo(status, tag.expiry_at, tag.parent_id_tag)


def list_entry(tag: Tag, parent: Tag | None, station_id: str, now: float) -> dict[str, Any] | None:
    """The tag's entry in `station_id`'s local list; None when it does not belong there."""
    if tag.removed or (tag.station_id is not None and tag.station_id != station_id):
        return None
    info = id_tag_info(tag, parent, station_id, now, accept_unknown=False)
    return {"idTag": tag.id_tag, "idTagInfo": info.to_ocpp()}


@dataclass(frozen=True, slots=True)
class ListUpdate:
    """A SendLocalList to send: `update_type` Full or Differential."""

    update_type: Literal["Full", "Differential"]
    version: int
    entries: tuple[dict[str, Any], ...]

    def payload(self) -> dict[str, Any]:
        return {
            "listVersion": self.version,
            "updateType": self.update_type,
            "localAuthorizationList": list(self.entries),
        }


def plan_update(
    tags: Iterable[Tag],
    station_id: str,
    list_version: int,
    station_version: int,
    sent_version: int | None,
    now: float,
) -> ListUpdate | None:
    """What to send a station whose list has `station_version` (GetLocalListVersion), given
    the version we last sent it (`sent_version`) and ours (`list_version`); None when in step.

    Differential when the station holds exactly what we sent; Full after any mismatch (another
    system wrote it, a factory reset, a lost update).
    """
    by_id: Mapping[str, Tag] = {t.id_tag: t for t in tags}
    if station_version == list_version and sent_version == list_version:
        return None
    if sent_version is not None and station_version == sent_version:
        entries = []
        for tag in sorted(by_id.values(), key=lambda t: t.id_tag):
            if tag.version <= sent_version:
                continue
            parent = by_id.get(tag.parent_id_tag) if tag.parent_id_tag else None
            entry = list_entry(tag, parent, station_id, now)
            entries.append(entry if entry is not None else {"idTag": tag.id_tag})
        return ListUpdate("Differential", list_version, tuple(entries))
    full = []
    for tag in sorted(by_id.values(), key=lambda t: t.id_tag):
        parent = by_id.get(tag.parent_id_tag) if tag.parent_id_tag else None
        entry = list_entry(tag, parent, station_id, now)
        if entry is not None:
            full.append(entry)
    return ListUpdate("Full", list_version, tuple(full))
