"""What the edges (API, CLI, demo) may ask of smart charging: a narrow `Protocol`.

`ChargingService` implements `ChargingControl`; the API is typed against the protocol and may
import this module, the read model and the views, never the service, the loops or the
dispatcher (an import-linter contract in pyproject.toml checks it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from csms.charging.readmodel import SiteRead
from csms.charging.sessions import SessionPlan, SessionView, TagDefaults


class CapError(ValueError):
    """An operator cap names an unknown site, station or connector, or a bad value."""


class LedElsewhere(RuntimeError):
    """A cluster's site state that lives only in its leader's loop (the mode switch) was asked of
    another node."""

    def __init__(self, site_id: str, node_id: str | None) -> None:
        where = f"node {node_id}" if node_id else "no node now (retry shortly)"
        super().__init__(f"site {site_id} is led by {where}: switch its mode through its leader")
        self.node_id = node_id


@dataclass(frozen=True, slots=True)
class SiteLeader:
    """Which node runs a site's loop (a cluster), in which fencing epoch."""

    node_id: str
    epoch: int
    here: bool
    """The node answering leads the site."""
    running: bool
    """The site's loop runs on the node answering."""


class ChargingControl(Protocol):
    """Read the sites' state and set operator caps."""

    def site_ids(self) -> Sequence[str]:
        """The configured sites (empty: smart charging is off)."""
        ...

    def site_id_of(self, station_id: str) -> str | None:
        """The site a station belongs to, or None."""
        ...

    def read_site(self, site_id: str, now: float) -> SiteRead | None:
        """The site's read model at `now` (None for an unknown site)."""
        ...

    def site_leader(self, site_id: str) -> SiteLeader | None:
        """Which node leads the site and in which epoch (None: not a cluster, or no leader)."""
        ...

    def station_ids_of(self, site_id: str) -> Sequence[str] | None:
        """The stations of a site, as configured (None for an unknown site)."""
        ...

    def set_mode(self, site_id: str, mode: str) -> bool:
        """Switch a site between "balanced" and "pv-surplus" from its next step, until a
        restart (in a cluster: until the site changes leader); False for an unknown site; raises
        `LedElsewhere` on a cluster node that does not lead the site."""
        ...

    async def set_cap(
        self, scope: str, target_id: str, connector_id: int, limit_a: float | None
    ) -> None:
        """Set or (None) remove an operator cap and apply it at once; raises `CapError`."""
        ...

    # -- departures, energy needs and phases ------------------------------------------------
    async def set_session_plan(self, station_id: str, connector_id: int, plan: SessionPlan) -> int:
        """Tell the running session on a connector its departure, energy need and phases
        (replacing what was told); its transaction id. Raises `PlanError`."""
        ...

    def session_views(
        self, site_id: str, keys: Sequence[tuple[str, int]] | None = None
    ) -> list[SessionView] | None:
        """A site's running sessions (or those on `keys`) with plans and forecasts; None for an
        unknown site."""
        ...

    def tag_defaults(self, id_tag: str) -> TagDefaults | None:
        """An idTag's usual departure, energy need and phases (None: nothing known)."""
        ...

    async def set_tag_defaults(self, defaults: TagDefaults) -> TagDefaults:
        """Store an idTag's defaults (keeping the phases learnt) and apply them at once."""
        ...
