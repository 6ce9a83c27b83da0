"""The `csms simulate` command: its JSON and text figures, its one-line errors."""

from __future__ import annotations

import json

import pytest

from csms.cli import main
from tests.simulate.scenarios import HEAD, site_files


def test_command_prints_json_figures(tmp_path, capsys):
    files = site_files(tmp_path, HEAD + "a,10:00,10:30,40,3,16,A,1\n")
    argv = ["simulate", "--site", files[0], "--profile", files[1], "--sessions", files[2]]
    code = main([*argv, "--start", "10:00", "--duration", "1h", "--json"])
    assert code == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["seconds_above_beyond_reaction"] == 0
    assert figures["missed_departures"] == 1 and figures["evs"][0]["missed_departure"]
    assert main([*argv, "--start", "10:00", "--duration", "1h"]) == 0
    text = capsys.readouterr().out
    assert "energy per EV" in text and "Missed departures: 1" in text and "A·s" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--site": "missing.toml"}, "setting config: file missing.toml not found"),
        ({"--policy": "bogus"}, "--policy 'bogus' is not a sharing policy"),
        ({"--step": "0"}, None),
    ],
)
def test_command_errors_are_one_line(tmp_path, capsys, change, message):
    files = site_files(tmp_path, HEAD + "a,10:00,10:30,40,3,16,A,1\n")
    args = {"--site": files[0], "--profile": files[1], "--sessions": files[2], **change}
    argv = ["simulate", *[x for pair in args.items() for x in pair]]
    if message is None:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        return
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("csms: ") and message in err and "\n" not in err
