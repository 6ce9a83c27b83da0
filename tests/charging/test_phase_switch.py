"""A phase switch made by a `LimitWriter` (the station's Modbus slave, register 1215) reaches the
balancer at once: PV-surplus mode then keeps a 3-phase EV switched to one phase charging on a
1-phase surplus, rather than counting it on three phases for `phase_detect_s` and stopping it
(a fake writer, an injected clock, the real loop and balancer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from balancing import allocate
from csms import events
from csms.charging.loop import SiteLoop
from csms.charging.writer import OnPhases, OnProven, OnSample
from csms.meter.reading import MeterReading
from csms.settings import ChargingSettings, SiteSettings

A = "ALF-0001"
KEY = (A, 1)


class FakeWriter:
    """Controls every station; keeps what the loop hands it and the loop's callbacks."""

    def __init__(self) -> None:
        self.setpoints: dict[str, Mapping[int, tuple[float, str, bool]]] = {}
        self.on_sample: OnSample | None = None
        self.on_phases: OnPhases | None = None

    def controls(self, station_id: str) -> bool:
        return True

    def write(
        self,
        station_id: str,
        setpoints: Mapping[int, tuple[float, str, bool]],
        surplus_a: float | None = None,
    ) -> None:
        self.setpoints[station_id] = dict(setpoints)

    def block(self, station_id: str, reason: str | None) -> None:
        pass

    def applied_a(self, station_id: str, connector_id: int) -> float | None:
        return None

    def station_view(self, station_id: str) -> dict[str, Any] | None:
        return None

    def socket_view(self, station_id: str, connector_id: int) -> dict[str, Any] | None:
        return None

    def attach(
        self, on_sample: OnSample, on_proven: OnProven, on_phases: OnPhases | None = None
    ) -> None:
        self.on_sample, self.on_phases = on_sample, on_phases

    async def run(self) -> None:
        pass


async def _no_call(station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    raise AssertionError("no OCPP call: the writer delivers")


class Site:
    """One PV-surplus site, one EV on a Modbus-controlled station; 1 A household per phase."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        settings = SiteSettings.model_validate({
            "id": "s", "mode": "pv-surplus", "grid_limit_a": 25, "meter": {"type": "simulated"},
            "pv_surplus": {"start_hold_s": 0, "stop_delay_s": 10, "hysteresis_a": 1},
            "stations": [{"id": A}],
        })  # fmt: skip
        self.writer = FakeWriter()
        # Offline for OCPP: no profiles to clear when the writer takes the station over.
        self.loop = SiteLoop(
            settings, ChargingSettings(), call=_no_call, online=lambda _: False,
            clock=lambda: self.now, allocate=allocate, writer=self.writer,
        )  # fmt: skip
        for event in (
            events.StationConnected(A, self.now),
            events.ConnectorStatusChanged(A, 1, "Charging", "NoError", None, None, self.now),
            events.TransactionStarted(A, 1, 7, "TAG", 0, self.now),
        ):
            self.loop.on_event(event)

    def run(self, seconds: float, ev_a: tuple[float, float, float], pv_a: float) -> float:
        """`seconds` of one step a second, the EV drawing `ev_a` (A per phase) and the PV giving
        `pv_a` per phase; the limit the writer was handed last."""
        for _ in range(int(seconds)):
            self.now += 1.0
            assert self.writer.on_sample is not None
            values = {("Current.Import", f"L{n}"): a for n, a in enumerate(ev_a, start=1)}
            self.writer.on_sample(A, 1, values, self.now)
            grid = (1.0 - pv_a + ev_a[0], 1.0 - pv_a + ev_a[1], 1.0 - pv_a + ev_a[2])
            self.loop.on_reading(MeterReading(self.now, grid, None, None, "test"))
            self.loop.step()
        return self.writer.setpoints[A][1][0]

    def switched(self, phases: int) -> None:
        assert self.writer.on_phases is not None
        self.writer.on_phases(A, 1, phases, self.now)

    @property
    def ev_phases(self) -> tuple[int, ...] | None:
        return self.loop.state.sockets[KEY].ev_phases


@pytest.mark.parametrize(
    ("case", "reported", "pv_a", "expected_a"),
    [
        # 5 A PV per phase: 12 A of surplus summed. Counted on three phases it needs 18 A: it
        # stops after the stop delay. Told it is on one, it gets the 12 A there.
        ("switch to 1 phase reported", True, 5.0, 12.0),
        ("4 A PV per phase: 9 A summed", True, 4.0, 9.0),
        ("not reported: counted on 3 phases, stopped", False, 5.0, 0.0),
    ],
)
def test_a_phase_switch_in_force_counts_the_ev_on_one_phase_at_once(
    case: str, reported: bool, pv_a: float, expected_a: float
) -> None:
    site = Site()
    # 11 A PV per phase (30 A summed): the 3-phase EV starts and is measured on three phases.
    limit = site.run(20, (10.0, 10.0, 10.0), pv_a=11.0)
    assert limit >= 6.0 and site.ev_phases == (1, 2, 3), case
    # The surplus falls below 18 A summed; the writer switches the socket to one phase and a
    # reading shows it in force: the EV draws on phase 1 only.
    if reported:
        site.switched(1)
        assert site.ev_phases == (1,), case
    limit = site.run(30, (limit, 0.0, 0.0), pv_a=pv_a)  # past the stop delay, within 60 s
    assert limit == pytest.approx(expected_a, abs=0.2), case
    if reported:
        # Back to three phases: counted on the three it was measured on before the switch.
        site.switched(3)
        assert site.ev_phases == (1, 2, 3), case


def test_a_switch_with_no_session_balanced_is_ignored() -> None:
    site = Site()
    site.switched(1)  # before the first step: the session is not in the balancer's state yet
    assert KEY not in site.loop.state.sockets
    site.run(1, (0.0, 0.0, 0.0), pv_a=0.0)
    assert site.ev_phases is None  # measured as usual


def test_an_ev_never_measured_is_counted_on_one_phase_after_the_switch_and_unknown_after() -> None:
    site = Site()
    site.run(1, (0.0, 0.0, 0.0), pv_a=0.0)  # no surplus: waiting, not measured
    assert site.ev_phases is None
    site.switched(1)
    assert site.ev_phases == (1,)
    site.switched(3)
    assert site.ev_phases is None  # unknown again: every phase counts on the grid


@pytest.mark.parametrize(
    ("case", "taken_s", "counted_on"),
    [
        # Taken before the switch, arriving after it (behind the station's other CALLs): the EV
        # stays counted on phase 1 and goes on charging from the 1-phase surplus.
        ("late sample from before the switch", -0.5, (1,)),
        # Taken after the switch and showing three phases (the station did not switch after
        # all): the wider set is taken at once, the safe side.
        ("sample taken after the switch", 0.5, (1, 2, 3)),
    ],
)
def test_a_sample_taken_before_the_phase_switch_does_not_undo_it(
    case: str, taken_s: float, counted_on: tuple[int, ...]
) -> None:
    site = Site()
    limit = site.run(20, (10.0, 10.0, 10.0), pv_a=11.0)
    assert site.ev_phases == (1, 2, 3), case
    # The reading that shows the switch in force, as the Modbus channel hands it on.
    site.switched(1)
    assert site.writer.on_sample is not None
    one_phase = {("Current.Import", f"L{n}"): a for n, a in ((1, limit), (2, 0.0), (3, 0.0))}
    site.writer.on_sample(A, 1, one_phase, site.now)
    sample = {("Current.Import", f"L{n}"): 10.0 for n in (1, 2, 3)}
    site.loop.on_event(events.MeterSampled(A, 1, 7, site.now + taken_s, sample))
    site.loop.step()
    assert site.ev_phases == counted_on, case
    if counted_on == (1,):
        limit = site.run(30, (limit, 0.0, 0.0), pv_a=5.0)
        assert limit == pytest.approx(12.0, abs=0.2), case
