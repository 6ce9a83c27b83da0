"""The code's layout rules (issue 17): files of a few hundred lines, and public interfaces kept."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 450
REASON = "# Over 450 lines because "


def oversized_without_reason(roots: list[Path]) -> list[str]:
    """Python files under `roots` longer than MAX_LINES whose first line gives no reason."""
    found = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            lines = path.read_text(encoding="utf-8").splitlines()
            if len(lines) <= MAX_LINES:
                continue
            first = lines[0] if lines else ""
            if not (first.startswith(REASON) and len(first) > len(REASON) + 10):
                found.append(f"{path.relative_to(root.parent)}: {len(lines)} lines")
    return found


def test_no_file_in_csms_or_balancing_is_over_450_lines_without_a_reason():
    assert oversized_without_reason([ROOT / "csms", ROOT / "balancing"]) == []


def test_the_length_check_finds_a_long_file_and_accepts_a_stated_reason(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    body = "x = 1\n" * MAX_LINES
    (package / "short.py").write_text(body)
    (package / "long.py").write_text('"""A module."""\n' + body)
    (package / "vague.py").write_text(REASON + "\n" + body)
    (package / "explained.py").write_text(REASON + "it is one table of data.\n" + body)
    assert oversized_without_reason([package]) == [
        "pkg/long.py: 451 lines",
        "pkg/vague.py: 451 lines",
    ]


def private_station_uses(source: str, name: str = "station") -> list[str]:
    """`station._x` and `self.station._x` uses in `source`: private access to SimStation."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        owner = node.value
        owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
        if owner_name == name:
            found.append(f"line {node.lineno}: {name}.{node.attr}")
    return found


@pytest.mark.parametrize("module", ["protocol.py", "connection.py", "messages.py"])
def test_the_simulator_drives_its_station_through_public_methods_only(module):
    source = (ROOT / "csms" / "sim" / module).read_text(encoding="utf-8")
    assert private_station_uses(source) == []


def test_the_private_use_check_finds_station_privates():
    source = "def f(station, self):\n    station._sync()\n    self.station._records.clear()\n"
    assert private_station_uses(source) == [
        "line 2: station._sync",
        "line 3: station._records",
    ]
