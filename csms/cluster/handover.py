"""The hand-over of a stopping node (SIGTERM, rolling updates).

Before the node closes its station sockets with 1012, it gives up its leases: for each site it
leads, the local view ends first (fenced sends stop), the site's loop stops (the charging
service's `wait_site_stopped`, so no write is left half-done), then the row's `lease_until`
becomes the database's `now()` — another node takes the site at its next renewal round
(within site_takeover_s / 3) instead of after the whole lease. The singleton lease goes the
same way. A lease that cannot be released (the database away) simply runs out.
"""

from __future__ import annotations

import logging

from csms.cluster.leases import LeaseKeeper

log = logging.getLogger(__name__)


async def hand_over(keeper: LeaseKeeper, timeout_s: float = 5.0) -> list[str]:
    """Stop renewing and release every lease this node holds; the keys released."""
    released = await keeper.release_all(timeout_s)
    if released:
        log.info("hand-over: released %s", ", ".join(sorted(released)))
    return released
