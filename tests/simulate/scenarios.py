"""The scenarios the `csms simulate` tests share: a two-station site and its files."""

from __future__ import annotations

from pathlib import Path

from csms.simulate.scenario import load_scenario, load_site

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demo-day"
SITE_TOML = """
[[sites]]
id = "home"
grid_limit_a = 25
margin_a = 1
[sites.meter]
type = "simulated"
poll_interval_s = 1
[[sites.stations]]
id = "A"
[[sites.stations]]
id = "B"
phase_rotation = "L2"
"""
KW_16A_3PH = 16 * 3 * 230 / 1000  # 11.04 kW


def site_files(
    tmp_path: Path,
    sessions_csv: str,
    load_csv: str = "time,household_a\n00:00,0\n",
    site_toml: str = SITE_TOML,
):
    (tmp_path / "site.toml").write_text(site_toml)
    (tmp_path / "load.csv").write_text(load_csv)
    (tmp_path / "sessions.csv").write_text(sessions_csv)
    return [str(tmp_path / n) for n in ("site.toml", "load.csv", "sessions.csv")]


def scenario_of(
    tmp_path: Path,
    sessions_csv: str,
    load_csv: str = "time,household_a\n00:00,0\n",
    site_toml: str = SITE_TOML,
):
    return load_scenario(*site_files(tmp_path, sessions_csv, load_csv, site_toml))


HEAD = "name,arrival,departure,energy_kwh,phases,max_current_a,station,connector\n"


def load_site_text():
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as fh:
        fh.write(SITE_TOML)
    return load_site(fh.name)
