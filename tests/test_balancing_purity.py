"""`balancing/` is pure: it imports only a short list of side-effect-free stdlib modules."""

from __future__ import annotations

import ast
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


def test_the_check_would_catch_an_io_import(tmp_path: Path) -> None:
    sample = "import asyncio\nfrom csms.storage import Store\nfrom .model import Site\n"
    tree = ast.parse(sample)
    found = [
        n.names[0].name if isinstance(n, ast.Import) else n.module
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom) and getattr(n, "level", 0) == 0
    ]
    assert [m for m in found if m not in ALLOWED] == ["asyncio", "csms.storage"]
