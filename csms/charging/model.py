# Over 450 lines because SiteModel keeps the site state both events and core inputs use.
"""What the control loop knows about a site, and its translation into the balancing core's inputs.

Pure: the loop feeds events into `SiteModel`; `balancing_site()` and `sessions()` build the frozen
values `balancing.allocate` takes — the site tree holds every limit (the stations' own, their SCN,
the operator caps; see `limits.py`) — and `limits()`/`targets()` turn an allocation into
per-connector limits with the `LimitSource` that binds and a prediction of what the station
applies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from balancing import (
    Allocation,
    GridReading,
    LimitSource,
    Mode,
    PhaseRotation,
    PvSurplus,
    Session,
    Sharing,
    Site,
    Socket,
    Station,
    TimeWindow,
    phase_rotation,
)
from balancing import Circuit as BalancingCircuit
from balancing.topology import compiled
from csms.charging.limits import (
    ConnectorKey,
    ConnectorLimit,
    Limit,
    LocalLimits,
    OperatorCaps,
    free_id,
    nodes_above,
    predict,
    reports_meter_lost,
    scn_nodes,
    station_nodes,
)
from csms.charging.planner import Target
from csms.settings import SiteSettings

# A socket or station whose own maximum we do not know yet (no configuration snapshot): the
# highest current an Alfen socket takes, so the meter and the site limits decide.
UNKNOWN_MAX_A = 32.0
# Sockets assumed for the safe default of a station that has not declared its NumberOfConnectors.
UNKNOWN_SOCKETS = 2
# An EV draws on a phase when a sample shows at least this much there.
DRAWING_A = 0.5
# How long an EV may take to follow a new limit (IEC 61851-1 allows 5 s after a PWM change).
FOLLOW_S = 5.0
# Nominal phase-to-neutral voltage for reading an EV's phase count from power and current.
NOMINAL_V = 230.0
# A power/current ratio this far from a whole number of phases says nothing about the count.
PHASE_RATIO_DOUBT = 0.35
# Accepted limits remembered per session (enough to cover a meter reading's age).
LIMIT_HISTORY = 16
# Connector states in which a running transaction draws (or may draw) current.
IN_USE = frozenset({"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"})
# Sources whose decreases are never skipped by the deadband.
_HARD_SOURCES = frozenset(
    {
        LimitSource.STATION_MAX,
        LimitSource.CONNECTOR_MAX,
        LimitSource.SCN_SHARE,
        LimitSource.SCN_SAFE,
        LimitSource.STATION_SAFE,
        LimitSource.CAP_CONNECTOR,
        LimitSource.CAP_STATION,
        LimitSource.CAP_SITE,
        LimitSource.SAFE_MODE,
        LimitSource.CIRCUIT,
    }
)


@dataclass(slots=True)
class ConnectorState:
    """One connector as the station reported it."""

    status: str = "Unknown"
    transaction_id: int | None = None
    started_at: float | None = None
    measured_grid_a: tuple[float, float, float] | None = None  # Current.Import per grid phase
    sampled_at: float | None = None  # when that sample arrived (our clock)
    limits: list[tuple[float, float]] = field(default_factory=list)  # (since, A) applied, in order
    offered_a: float | None = None  # Current.Offered
    ev_phases: int | None = None  # the session's EV phase count, read from an unphased sample


@dataclass(slots=True)
class SiteModel:
    """Connectors, transactions, local limits and station meter state of one site's stations."""

    settings: SiteSettings
    connectors: dict[ConnectorKey, ConnectorState] = field(default_factory=dict)
    local: dict[str, LocalLimits] = field(default_factory=dict)
    declared_connectors: dict[str, int] = field(default_factory=dict)  # NumberOfConnectors
    meter_lost: set[str] = field(default_factory=set)
    tx_connector: dict[int, ConnectorKey] = field(default_factory=dict)
    caps: OperatorCaps = field(default_factory=OperatorCaps)  # set through the API
    _site: Site | None = field(default=None, repr=False)  # the last `balancing_site()`

    @property
    def station_ids(self) -> list[str]:
        return [s.id for s in self.settings.stations]

    def connector(self, key: ConnectorKey) -> ConnectorState:
        return self.connectors.setdefault(key, ConnectorState())

    def sockets_of(self, station_id: str) -> list[int]:
        """Connector ids of a station: those it reported, and as many as its snapshot declares."""
        seen = {c for (s, c) in self.connectors if s == station_id and c > 0}
        declared = self.declared_connectors.get(station_id, 0)
        return sorted(seen | set(range(1, declared + 1))) or [1]

    def socket_count(self) -> int:
        return sum(len(self.sockets_of(s)) for s in self.station_ids)

    # -- events ----------------------------------------------------------------------------
    def status(
        self,
        station_id: str,
        connector_id: int,
        status: str,
        vendor_error_code: str | None = None,
        info: str | None = None,
    ) -> None:
        lost = reports_meter_lost(connector_id, status, vendor_error_code, info)
        if lost is True:
            self.meter_lost.add(station_id)
        elif lost is False:
            self.meter_lost.discard(station_id)
        if connector_id > 0:
            self.connector((station_id, connector_id)).status = status

    def started(self, station_id: str, connector_id: int, transaction_id: int, at: float) -> None:
        state = self.connector((station_id, connector_id))
        if state.transaction_id is not None:
            self.tx_connector.pop(state.transaction_id, None)
        state.transaction_id = transaction_id
        state.started_at = at
        state.measured_grid_a = None
        state.sampled_at = None
        state.ev_phases = None
        state.limits.clear()
        self.tx_connector[transaction_id] = (station_id, connector_id)

    def stopped(self, transaction_id: int) -> ConnectorKey | None:
        """Forget a transaction; returns the connector it ran on (None if unknown)."""
        key = self.tx_connector.pop(transaction_id, None)
        if key is not None and self.connectors[key].transaction_id == transaction_id:
            state = self.connectors[key]
            state.transaction_id = None
            state.started_at = None
            state.measured_grid_a = None
        return key

    def sampled(
        self,
        station_id: str,
        connector_id: int,
        values: Mapping[tuple[str, str | None], float],
        received_at: float,
    ) -> None:
        if connector_id < 1:
            return
        key = (station_id, connector_id)
        state = self.connector(key)
        phases = [values.get(("Current.Import", f"L{n}")) for n in (1, 2, 3)]
        unphased = values.get(("Current.Import", None))
        grid: tuple[float, float, float] | None = None
        if all(p is not None for p in phases):
            grid = (float(phases[0]), float(phases[1]), float(phases[2]))  # type: ignore[arg-type]
        elif unphased is not None:
            grid = self._unphased_grid(key, state, float(unphased), values)
        if grid is not None:
            state.measured_grid_a = grid
            state.sampled_at = received_at
        offered = values.get(("Current.Offered", None))
        if offered is not None:
            state.offered_a = float(offered)

    def _unphased_grid(
        self,
        key: ConnectorKey,
        state: ConnectorState,
        amps: float,
        values: Mapping[tuple[str, str | None], float],
    ) -> tuple[float, float, float]:
        """One `Current.Import` for the outlet (no `phase`): `amps` on each grid phase the EV
        uses, through the socket's rotation.

        The EV's phase count comes from the same sample's power (P / (V × I)), else from an
        earlier sample of the session. Unknown, it is chosen on the safe side: when the meter
        includes the EVs their draw is taken out of it, so one phase (never more EV draw than
        there is; the rest stays counted as other load); when it does not, every phase of the
        socket (never less EV load than there is).
        """
        count = phases_from_power(amps, _power_w(values), _voltage_v(values))
        if count is not None:
            state.ev_phases = count
        count = count or state.ev_phases or (1 if self.settings.meter_includes_ev else 3)
        rotation = self.socket_rotation(key)
        on = set(rotation.grid_phases(range(1, count + 1)))
        return (
            amps if 1 in on else 0.0,
            amps if 2 in on else 0.0,
            amps if 3 in on else 0.0,
        )

    def socket_rotation(self, key: ConnectorKey) -> PhaseRotation:
        """The socket's effective rotation (feeder and the station's internal wiring)."""
        site = self._site or self.balancing_site()
        socket = compiled(site).by_key.get(key)
        if socket is None:  # a socket reported for the first time: the site grew
            socket = compiled(self.balancing_site()).by_key.get(key)
        return self.rotation(key[0]) if socket is None else socket.rotation

    # -- balancing inputs --------------------------------------------------------------------
    def rotation(self, station_id: str) -> PhaseRotation:
        configured = next(s for s in self.settings.stations if s.id == station_id)
        if self.settings.phases == 1:
            return phase_rotation("L1")
        return phase_rotation(configured.phase_rotation)

    def balancing_site(self) -> Site:
        """The site as the balancing core sees it: a tree with every limit in it (the stations'
        own maxima, their safe current while they report their meter lost, their SCN as a
        circuit, the operator caps), each named by its `LimitSource`."""
        s = self.settings
        circuits = [BalancingCircuit(c.id, c.limit_a, c.parent) for c in s.circuits]
        station_circuit = {c.id: c.circuit for c in s.stations}
        for node in scn_nodes(self.local, self.station_ids, self.meter_lost):
            # An SCN is a circuit between its stations and the circuit they hang from; one that
            # spans stations on different circuits is no subtree: `predict` still reports it.
            parents = {station_circuit[station_id] for station_id in node.stations}
            if len(parents) != 1:
                continue
            cid = free_id(f"SCN {node.network}".strip(), {c.id for c in circuits})
            limit = node.limit
            circuits.append(BalancingCircuit(cid, limit.value_a, parents.pop(), limit.source))
            station_circuit.update(dict.fromkeys(node.stations, cid))
        stations = []
        for configured in s.stations:
            connectors = self.sockets_of(configured.id)
            nodes = station_nodes(
                configured.id,
                self.local.get(configured.id, LocalLimits()),
                connectors,
                self.caps,
                meter_lost=configured.id in self.meter_lost,
                unknown_max_a=UNKNOWN_MAX_A,
            )
            sockets = tuple(
                Socket(c, nodes.socket_max[c].value_a, max_source=nodes.socket_max[c].source)
                for c in connectors
            )
            stations.append(
                Station(
                    configured.id,
                    nodes.station_max.value_a,
                    sockets,
                    phase_rotation=self.rotation(configured.id),
                    circuit_id=station_circuit[configured.id],
                    max_source=nodes.station_max.source,
                )
            )
        site = Site(
            grid_limit_a=s.grid_limit_a,
            stations=tuple(stations),
            id=s.id,
            phases=s.phases,
            margin_a=s.margin_a,
            safe_current_a=s.safe_current_a,
            meter_includes_ev=s.meter_includes_ev,
            meter_timeout_s=s.meter_timeout_s,
            mode=Mode(s.mode),
            pv=PvSurplus(
                start_hold_s=s.pv_surplus.start_hold_s,
                stop_delay_s=s.pv_surplus.stop_delay_s,
                hysteresis_a=s.pv_surplus.hysteresis_a,
                min_charge_a=s.pv_surplus.min_charge_a,
                boost_windows=tuple(TimeWindow.parse(w) for w in s.pv_surplus.boost_windows),
            ),
            min_current_a=s.min_current_a,
            alternating_period_s=s.alternating_period_s,
            sharing=Sharing(s.sharing),
            ramp_a_per_s=s.ramp_a_per_s,
            circuits=tuple(circuits),
            cap_a=self.caps.site_a,
        )
        self._site = site
        return site

    def note_limit(self, key: ConnectorKey, since: float, limit_a: float) -> None:
        """The limit the station applies to this connector's session, accepted at `since`."""
        history = self.connectors[key].limits
        if history and history[-1][1] == limit_a:
            return
        # A profile that ended falls back to an older one: that change happened now-ish, not
        # when the older profile was accepted.
        at = max(since, history[-1][0]) if history else since
        history.append((at, limit_a))
        del history[:-LIMIT_HISTORY]

    def limit_at(self, key: ConnectorKey, at: float) -> tuple[float, float] | None:
        """(since, limit) in effect for the session at time `at` (None: before all we know)."""
        for since, limit in reversed(self.connectors[key].limits):
            if since <= at:
                return since, limit
        return None

    def ev_estimate(
        self, key: ConnectorKey, reading_at: float | None
    ) -> tuple[float, float, float] | None:
        """The lower plausible current per grid phase of an EV when the meter was read, for
        taking it out of the meter reading (which counts our EVs) to find the household.

        What the EV was measured drawing, capped at the lowest limit the station applied since
        that sample — or, for a sample older than `FOLLOW_S`, in the last `FOLLOW_S` before the
        reading, as an EV follows a new limit within that time (IEC 61851-1) — so an EV cut or
        paused since may already draw less, and one raised or resumed since counts with what it
        drew before until it is seen drawing more. Paused (below the minimum current): 0. Never
        what it was offered but not seen drawing: an EV started or raised a moment ago may not
        draw yet, and subtracting its offer made the household look smaller than it is (a swap
        once took a 25 A grid to 31.4 A that way). None while it was never measured.

        An estimate below the truth counts some of the EV as household: the loop then allocates
        a little less until the next sample (safe). What the EV may take next is reserved
        separately: its allocation counts against the grid limit in full.
        """
        state = self.connectors[key]
        measured = state.measured_grid_a
        if measured is None or not state.limits:
            return measured
        at = state.limits[-1][0] if reading_at is None else reading_at
        if state.started_at is not None and at < state.started_at:
            return (0.0, 0.0, 0.0)  # the meter was read before this EV was plugged in
        sampled_at = at if state.sampled_at is None else min(state.sampled_at, at)
        cap = self.lowest_limit(key, max(sampled_at, at - FOLLOW_S), at)
        if cap < self.settings.min_current_a:
            return (0.0, 0.0, 0.0)  # paused, or resumed and not seen drawing again yet
        return (min(measured[0], cap), min(measured[1], cap), min(measured[2], cap))

    def lowest_limit(self, key: ConnectorKey, start: float, end: float) -> float:
        """The lowest limit in force at any time from `start` to `end` (the first known limit
        when `start` is before all we know)."""
        history = self.connectors[key].limits
        _, lowest = self.limit_at(key, start) or history[0]
        for changed_at, limit in history:
            if start < changed_at <= end:
                lowest = min(lowest, limit)
        return lowest

    def sessions(self, site: Site, reading_at: float | None) -> list[Session]:
        """One session per connector with a running transaction on a socket of `site`.

        Stations report Current.Import per grid phase; the balancer wants it per EV phase, so the
        socket's rotation (feeder plus Alfen's internal wiring) is undone here.
        """
        sockets = compiled(site).by_key
        out = []
        for key, state in sorted(self.connectors.items()):
            if state.transaction_id is None or key not in sockets:
                continue
            rotation = sockets[key].rotation
            grid = self.ev_estimate(key, reading_at)
            measured = None
            if grid is not None:
                measured = tuple(grid[rotation.grid_phase(k) - 1] for k in (1, 2, 3))
                if rotation.single_phase:
                    measured = (grid[rotation.grid_phase(1) - 1], 0.0, 0.0)
            out.append(
                Session(
                    key=key,
                    started_at=state.started_at or 0.0,
                    measured_a=measured,  # type: ignore[arg-type]
                    measured_at=state.sampled_at,
                    charging=state.status != "SuspendedEV",
                )
            )
        return out

    @staticmethod
    def ev_draw(site: Site, sessions: list[Session]) -> tuple[float, float, float]:
        """Our EVs' draw per grid phase as the balancer takes it out of the meter reading: the
        sessions' estimates, where they charge."""
        by_key = compiled(site).by_key
        draw = [0.0, 0.0, 0.0]
        for s in sessions:
            if s.measured_a is None or not s.charging:
                continue
            to_grid = by_key[s.key].ev_to_grid
            for ev_phase, amps in enumerate(s.measured_a):
                if 0.0 < amps < math.inf:
                    draw[to_grid[ev_phase]] += amps
        return (draw[0], draw[1], draw[2])

    def in_use(self) -> list[ConnectorKey]:
        """Sockets the stations count as in use when sharing their own limits."""
        return [
            key
            for key, state in self.connectors.items()
            if state.transaction_id is not None or state.status in IN_USE
        ]

    def safe_default_a(self) -> float:
        """The highest TxDefaultProfile limit of any socket (see `safe_defaults`)."""
        return max(
            (a for shares in self.safe_defaults().values() for a in shares.values()), default=0.0
        )

    def safe_defaults(self) -> dict[str, dict[int, float]]:
        """Each station's TxDefaultProfile limit per socket, so that even with every socket
        charging while we are silent the site stays within its safe current.

        The equal share when it lets an EV charge (at least the minimum current); otherwise
        whole shares per socket: the first sockets in the site's order (the balancer's safe-mode
        priority) share the safe current, as many as can get at least the minimum, and the rest
        get 0 (paused) — instead of a share below the minimum that pauses every EV. Sockets of
        one station may so differ (6 A on connector 1, 0 A on connector 2). A station whose
        socket count we do not know yet (no NumberOfConnectors in a snapshot) counts as a
        double, the most an Alfen has. Below one minimum every socket gets the equal share.
        """
        safe = self.settings.safe_current_a
        minimum = self.settings.min_current_a
        sockets: list[ConnectorKey] = []
        for station_id in self.station_ids:
            known = self.sockets_of(station_id)
            if station_id not in self.declared_connectors:
                known = sorted(set(known) | set(range(1, UNKNOWN_SOCKETS + 1)))
            sockets.extend((station_id, c) for c in known)
        equal = safe / max(1, len(sockets))
        fit = math.floor(safe / minimum + 1e-9) if minimum > 0 else len(sockets)
        out: dict[str, dict[int, float]] = {station_id: {} for station_id in self.station_ids}
        for n, (station_id, connector_id) in enumerate(sockets):
            if equal >= minimum or fit == 0:
                share = equal
            else:
                share = safe / min(fit, len(sockets)) if n < fit else 0.0
            out[station_id][connector_id] = share
        return out

    # -- limits ------------------------------------------------------------------------------
    def limits(self, allocation: Allocation) -> dict[ConnectorKey, ConnectorLimit]:
        """Every allocated connector's limit: the allocation, whose binding already names the
        node of the tree that binds (station, connector, SCN, cap, grid phase, …), with the
        limits of the tree above it and the prediction of what the station applies."""
        site = self._site or self.balancing_site()
        by_key = compiled(site).by_key
        ours = {
            a.socket_key: Limit(a.limit_a, a.binding.source, a.binding.detail)
            for a in allocation.sockets
        }
        predicted = predict(ours, self.local, in_use=self.in_use(), meter_lost=self.meter_lost)
        out = {}
        for key, limit in ours.items():
            info = by_key.get(key)
            nodes = () if info is None else nodes_above(site, info.station, key[1])
            out[key] = ConnectorLimit(
                limit.value_a, limit.source, (*nodes, limit), limit.detail, predicted[key]
            )
        return out

    def targets(
        self,
        limits: Mapping[ConnectorKey, ConnectorLimit],
        allocation: Allocation,
        reading: GridReading | None,
        applied: Mapping[ConnectorKey, float] | None = None,
    ) -> list[Target]:
        """Planner targets; a decrease is urgent (never skipped) in safe mode, while the grid is
        over its limit — as measured, or, where the meter leaves the EVs out (or there is none),
        as it would be with every EV drawing what its station `applied` now (such a meter never
        shows skipped cuts adding up) — or when a hard limit binds.

        A meter that includes the EVs shows skipped cuts adding up as soon as the EVs draw them,
        so its reading is the proof. Its other load must not be added to `applied`: that load is
        the reading less each EV's lower estimate (its last sample), so an EV raised since its
        sample is in it with the part of the raise it already draws, and adding the raise again
        made every raise on a full grid look like an overload for a sample interval — an urgent
        cut of the size of the raise right after it, raise and cut in turn (flash wear)."""
        s = self.settings
        ceiling = s.grid_limit_a - s.margin_a / 2
        over = reading is not None and any(c > ceiling for c in reading.current_a)
        sees_ev = s.meter_includes_ev and s.meter.type != "none"
        if applied and allocation.other_load_a is not None and not sees_ev:
            # No meter: its reading is 0, so the other load is 0 less the EVs' estimates.
            load = [0.0 if s.meter_includes_ev else o for o in allocation.other_load_a]
            for socket in allocation.sockets:
                amps = applied.get(socket.socket_key, 0.0)
                if amps < self.settings.min_current_a:
                    continue  # paused: draws nothing
                for phase in socket.phases:
                    if phase - 1 < len(load):
                        load[phase - 1] += amps
            over = over or any(c > ceiling for c in load)
        out = []
        for key, limit in limits.items():
            tx = self.connectors[key].transaction_id
            if tx is None:
                continue
            urgent = allocation.safe_mode or over or limit.source in _HARD_SOURCES
            out.append(Target(key[0], key[1], limit.value_a, limit.source, tx, urgent))
        return out


def phases_from_power(amps: float, power_w: float | None, voltage_v: float) -> int | None:
    """How many phases an EV drawing `amps` per phase at `power_w` uses (1-3), or None when the
    sample cannot tell (no power, too little current, a ratio between two counts)."""
    if power_w is None or amps < DRAWING_A or power_w <= 0 or voltage_v <= 0:
        return None
    ratio = power_w / (voltage_v * amps)
    count = round(ratio)
    if count < 1 or abs(ratio - count) > PHASE_RATIO_DOUBT:
        return None  # also power in kW: a ratio near 0
    return min(3, count)


def _power_w(values: Mapping[tuple[str, str | None], float]) -> float | None:
    power = values.get(("Power.Active.Import", None))
    return None if power is None else float(power)


def _voltage_v(values: Mapping[tuple[str, str | None], float]) -> float:
    for phase in (None, "L1-N", "L1"):
        voltage = values.get(("Voltage", phase))
        if voltage is not None and voltage > 0:
            return float(voltage)
    return NOMINAL_V
