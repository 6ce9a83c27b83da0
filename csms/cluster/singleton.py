"""Work that must happen once in the cluster: the singleton lease.

The cluster-wide periodic jobs — alert transitions and their webhook, event-log pruning — run
only on the node holding the lease of the reserved key `SINGLETON` in the site-lease table
(taken, renewed and given up like a site's, but not counted when sites are spread). The services
are handed `runs_once`, a callable; they import nothing of the cluster.

Per-station work needs no lease: queued configuration changes, SCN applies, licence workflows
and local-list updates start from the station's own connect and boot events, which only the node
holding the station's socket publishes on its event bus; a station has one socket, so one node.
"""

from __future__ import annotations

from collections.abc import Callable

from csms.cluster.leases import SINGLETON, LeaseKeeper


def runs_once(keeper: LeaseKeeper) -> Callable[[], bool]:
    """Whether this node runs the once-only jobs now (it holds the singleton lease)."""
    return lambda: keeper.epoch(SINGLETON) is not None
