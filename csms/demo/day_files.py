"""The demo's day as `csms simulate` input files (site TOML, load CSV, sessions CSV).

`python -m csms.demo.day_files DIR` writes them; `examples/demo-day/` holds the copy the README
uses, and a test checks that it still matches `csms.demo.scenario` and the demo's site.
"""

from __future__ import annotations

import sys
from pathlib import Path

from csms.demo.scenario import DAY_S, PV_PEAK_A, household_a, pv_a, sessions
from csms.sim.site import RECOMMENDED_ROTATIONS
from csms.simulate.scenario import format_time

PROFILE_STEP_S = 60  # one row a minute: the household's noise changes every 5 minutes
STATIONS = 3
SOCKETS = 4


def layout() -> list[tuple[str, int]]:
    """The demo's default stations (doubles first) and their socket counts."""
    doubles = SOCKETS - STATIONS
    return [(f"ALF-{n + 1:04d}", 2 if n < doubles else 1) for n in range(STATIONS)]


def site_toml(grid_limit_a: float = 25.0, margin_a: float = 1.0) -> str:
    lines = [
        "# The demo's site (csms demo defaults), in the settings format of `csms serve`.",
        "[[sites]]",
        'id = "demo"',
        f"grid_limit_a = {grid_limit_a:g}",
        f"margin_a = {margin_a:g}",
        "safe_current_a = 6",
        "# The site's PV exports up to its peak per phase: the meter check allows that much.",
        f"pv_export_max_a = {PV_PEAK_A:g}",
        "[sites.meter]",
        'type = "simulated"',
        "poll_interval_s = 1",
    ]
    for n, (station_id, _) in enumerate(layout()):
        rotation = RECOMMENDED_ROTATIONS[n % len(RECOMMENDED_ROTATIONS)]
        lines += ["[[sites.stations]]", f'id = "{station_id}"', f'phase_rotation = "{rotation}"']
    return "\n".join(lines) + "\n"


def load_csv() -> str:
    rows = ["time,household_l1,household_l2,household_l3,pv_l1,pv_l2,pv_l3"]
    for t in range(0, int(DAY_S), PROFILE_STEP_S):
        h, p = household_a(t), pv_a(t)
        values = ",".join(f"{v:.2f}" for v in (*h, *p))
        rows.append(f"{format_time(t)},{values}")
    return "\n".join(rows) + "\n"


def sessions_csv() -> str:
    sockets = [(sid, c) for sid, count in layout() for c in range(1, count + 1)]
    rows = ["name,arrival,departure,energy_kwh,phases,max_current_a,station,connector"]
    for ev in sessions(sockets):
        rows.append(
            f"{ev.name},{format_time(ev.arrive_s)},{format_time(ev.leave_s)},{ev.battery_kwh:g},"
            f"{ev.phases},{ev.max_current_a:g},{ev.station},{ev.connector}"
        )
    return "\n".join(rows) + "\n"


def files() -> dict[str, str]:
    """File name → content."""
    return {"site.toml": site_toml(), "load.csv": load_csv(), "sessions.csv": sessions_csv()}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m csms.demo.day_files DIR", file=sys.stderr)
        return 2
    target = Path(argv[0])
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files().items():
        (target / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
