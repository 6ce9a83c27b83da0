"""`balancing/` is pure: it imports only a short list of side-effect-free stdlib modules."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import balancing

PACKAGE = Path(balancing.__file__).parent
ALLOWED = {
    "__future__",
    "bisect",
    "collections",
    "collections.abc",
    "dataclasses",
    "enum",
    "functools",
    "heapq",
    "itertools",
    "math",
    "operator",
    "types",
    "typing",
}
FORBIDDEN_CALLS = {"open", "__import__", "exec", "eval", "input", "print"}


def _modules() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) >= 5
    return files


def test_balancing_imports_only_pure_stdlib_modules() -> None:
    offending = []
    for path in _modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level > 0:
                    continue  # relative: inside balancing/
                names = [node.module or ""]
            else:
                continue
            offending += [f"{path.name}:{node.lineno} {n}" for n in names if n not in ALLOWED]
    assert offending == []


def test_balancing_calls_no_io_builtins() -> None:
    offending = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in FORBIDDEN_CALLS
            ):
                offending.append(f"{path.name}:{node.lineno} {node.func.id}()")
    assert offending == []


def test_the_layer_contracts_catch_a_leak_into_balancing(tmp_path: Path) -> None:
    """The import-linter contracts (pyproject.toml, run by `make test`) fail on a copy of the
    project whose balancing core imports the shell: the rule is checked, not assumed."""
    root = PACKAGE.parent
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(root / "balancing", tmp_path / "balancing", ignore=ignore)
    shutil.copytree(root / "csms", tmp_path / "csms", ignore=ignore)
    shutil.copy(root / "pyproject.toml", tmp_path / "pyproject.toml")
    lint = [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    clean = subprocess.run(lint, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout[-2000:]

    (tmp_path / "balancing" / "_leak.py").write_text("from csms.storage import Store\n")
    leaked = subprocess.run(lint, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert leaked.returncode != 0
    assert "balancing is pure" in leaked.stdout and "BROKEN" in leaked.stdout
    assert "balancing._leak -> csms.storage" in leaked.stdout
