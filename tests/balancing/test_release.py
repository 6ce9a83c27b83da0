"""The release of an EV that stops drawing (issue 11, item 5), beyond the scenario
`release_full_ev.yaml`: how long "for a while" is when measurements are sparse."""

from __future__ import annotations

from balancing import BalancerState, GridReading, LimitSource, Session, Site, Socket, Station
from balancing import allocate as allocate_

SITE = Site(
    grid_limit_a=25,
    stations=(Station("A", 32, (Socket(1, 32),)), Station("B", 32, (Socket(1, 32),))),
    ramp_a_per_s=None,
    meter_includes_ev=False,
    release_after_s=120,
    underuse_after_s=3600,
)


class Loop:
    """A control loop running every 10 s; A's station samples its current only now and then."""

    def __init__(self) -> None:
        self.state = BalancerState()

    def run(self, now: float, a_measured: float, a_sampled_at: float | None) -> float:
        sessions = [
            Session(("A", 1), 0.0, measured_a=(a_measured,) * 3, measured_at=a_sampled_at),
            Session(("B", 1), 0.0, measured_a=(12.0,) * 3),
        ]
        a = allocate_(SITE, GridReading(now, (0.0, 0.0, 0.0)), sessions, self.state, now)
        self.state = a.state
        return a.get(("A", 1)).limit_a


def test_one_old_sample_of_0_a_does_not_release_an_ev() -> None:
    # MeterValueSampleInterval 900 s: the sample of 0 A taken as A was starting stays the
    # latest for 15 minutes, while A in fact charges. The idle time runs between samples.
    loop = Loop()
    assert loop.run(0, 0.0, None) == 12.5
    for now in range(10, 900, 10):
        assert loop.run(now, 0.0, 5.0) == 12.5, now
    assert loop.run(910, 12.5, 905.0) == 12.5  # the next sample: it draws


def test_two_samples_of_0_a_far_enough_apart_release_it() -> None:
    loop = Loop()
    loop.run(0, 0.0, None)
    assert loop.run(10, 0.0, 5.0) == 12.5
    assert loop.run(120, 0.0, 110.0) == 12.5  # 105 s between the samples
    assert loop.run(130, 0.0, 125.0) == 0.0  # 120 s
    a = allocate_(
        SITE,
        GridReading(140, (0.0, 0.0, 0.0)),
        [Session(("A", 1), 0.0, measured_a=(0.0,) * 3, measured_at=125.0), Session(("B", 1), 0.0)],
        loop.state,
        140,
    )
    assert a.get(("A", 1)).binding.source is LimitSource.RELEASED
    assert a.get(("B", 1)).limit_a == 25.0


def test_without_a_sample_time_the_measurement_counts_as_now() -> None:
    loop = Loop()
    loop.run(0, 0.0, None)
    assert loop.run(10, 0.0, None) == 12.5
    assert loop.run(129, 0.0, None) == 12.5
    assert loop.run(130, 0.0, None) == 0.0
