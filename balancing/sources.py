"""Where a limit comes from: one name for every node and rule of the tree of limits.

A `LimitSource` travels end to end: the balancing core names the constraint that bound each socket
(`Binding`), the control loop hands it to the delivery planner and the site view, and the demo and
`csms simulate` print it. Its value is the text the API shows.
"""

from __future__ import annotations

from enum import StrEnum


class LimitSource(StrEnum):
    """Where a socket's limit comes from (the binding constraint)."""

    GRID_PHASE = "grid phase"
    """The grid connection's headroom on phase `detail` (limit − margin − other load)."""
    CIRCUIT = "circuit"
    STATION_MAX = "station max"
    """`Station-MaxCurrent`, shared by the station's sockets (`Station.max_current_a`)."""
    CONNECTOR_MAX = "connector max"
    """`ConnectorN-MaxCurrent` (`Socket.max_current_a`)."""
    SCN_SHARE = "scn share"
    """The station's Smart Charging Network: `SCN-TotalStaticCurrent` shared by its sockets (a
    circuit of the tree)."""
    SCN_SAFE = "scn safe current"
    """`SCN-TotalSafeCurrent`: the SCN's total while a station of it reports its meter lost."""
    STATION_SAFE = "station safe current"
    """`Safe-MaxCurrent`: the station's maximum while it reports its own meter lost."""
    CAP_CONNECTOR = "operator cap (connector)"
    """An operator cap on one connector (API), a socket maximum of the tree."""
    CAP_STATION = "operator cap (station)"
    """An operator cap on a station (API): a total per phase shared by its sockets."""
    CAP_SITE = "operator cap (site)"
    """An operator cap on the site (API): the root of the tree, a total per phase for all EVs."""
    EV_MAX = "EV max"
    EV_DEMAND = "EV demand"
    """The EV drew clearly less than offered for minutes; its offer follows what it draws."""
    SAFE_MODE = "safe mode"
    """The meter reading is stale: all EVs together get the site's safe current."""
    ALTERNATING = "alternating pause"
    """Paused while others charge; the roles swap after the alternating period."""
    PV_SURPLUS = "PV surplus"
    MIN_CURRENT = "minimum-current pause"
    """Less than the minimum current is available even for this socket alone."""
    RAMP = "ramp"
    """Rising towards a higher target at the site's ramp rate."""
    RELEASED = "released"
    """The EV stopped drawing (full or suspended): its share went to others until it draws."""
    RESUMING = "resuming"
    """Resumed a moment ago and not measured since: kept at its minimum until its first sample
    shows what it draws (the control loop's rule, `csms/charging/resume.py`; never over a
    measured overload, in safe mode or against a limit of the tree)."""
    YIELDING = "yielding"
    """`max-energy` only: paused while an EV on more phases can take its share of a full phase
    (or circuit) and turn it into more power; back when that EV is at its cap or it is at risk of
    its departure. Not a turn: it does not wait for one (`balancing/throughput.py`)."""
    PHASE_PROBE = "phase probe"
    """Phases unknown and no room on all of them: the minimum on the phase every EV uses, until
    what it draws shows its phases."""

    def __str__(self) -> str:
        return self.value
