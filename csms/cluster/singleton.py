"""Work that must happen once in the cluster: the singleton lease.

The cluster-wide periodic jobs — alert transitions and their webhook, event-log pruning — run
only on the node holding the lease of the reserved key `SINGLETON` in the site-lease table
(taken, renewed and given up like a site's, but not counted when sites are spread). A site's
safe-mode alert is the exception: only the loop of the site's leader knows it, so that node
reports it. The services are handed callables; they import nothing of the cluster.

Per-station work needs no lease: queued configuration changes, SCN applies, licence workflows
and local-list updates start from the station's own connect and boot events, which only the node
holding the station's socket publishes on its event bus; a station has one socket, so one node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from csms.cluster.leases import SINGLETON, LeaseKeeper

SITE_ALERT = "site-safe-mode"


class AlertLike(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def site_id(self) -> str | None: ...


def runs_once(keeper: LeaseKeeper) -> Callable[[], bool]:
    """Whether this node runs the once-only jobs now (it holds the singleton lease)."""
    return lambda: keeper.epoch(SINGLETON) is not None


def reports(keeper: LeaseKeeper) -> Callable[[AlertLike], bool]:
    """Whether this node logs and posts an alert's transitions: a site's safe mode where the
    site is led, everything else where the singleton lease is held."""

    def decide(alert: AlertLike) -> bool:
        if alert.kind == SITE_ALERT and alert.site_id is not None:
            return keeper.epoch(alert.site_id) is not None
        return keeper.epoch(SINGLETON) is not None

    return decide
