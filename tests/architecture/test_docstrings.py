"""Every package of csms says what it is for: a real docstring, not a placeholder (issue 17)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import balancing
import csms

PACKAGES = sorted(
    path
    for root in (Path(csms.__file__).parent, Path(balancing.__file__).parent)
    for path in root.rglob("__init__.py")
    if "__pycache__" not in path.parts
)
PLACEHOLDERS = ("todo", "placeholder", "tbd", "fixme", "xxx")


def test_the_packages_are_found() -> None:
    assert len(PACKAGES) >= 12


@pytest.mark.parametrize("init", PACKAGES, ids=lambda p: str(p.parent.name))
def test_a_package_docstring_states_its_responsibility(init: Path) -> None:
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    words = doc.lower().replace(".", " ").replace(",", " ").split()
    assert len(words) >= 12, f"{init}: a one-paragraph docstring saying what the package is for"
    assert not set(words) & set(PLACEHOLDERS), f"{init}: placeholder docstring"
