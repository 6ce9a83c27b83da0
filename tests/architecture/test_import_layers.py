"""The composition root stays a root: nobody imports `csms.app`, and no two packages import
each other (issue 17, "no service locator").

The graph comes from grimp (import-linter's engine) and counts imports under TYPE_CHECKING too:
a service typed with the central system is the service locator again, even if only for mypy.
"""

from __future__ import annotations

import itertools

import grimp
import pytest

# Process entry points that start a central system (tests do too, but are not in the graph).
APP_IMPORTERS = {"csms.cli.serve", "csms.demo", "csms.demo.run"}

# Circles between two top-level parts of csms that exist today (there were three, through the
# settings module reading the charging settings and the OCPP id rules). Keep it empty.
KNOWN_CIRCLES: set[tuple[str, str]] = set()


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("csms", "balancing")


def circles(graph: grimp.ImportGraph) -> set[tuple[str, str]]:
    """Pairs of top-level parts of csms (packages and modules) that import each other, directly
    or through other modules."""
    parts = sorted(graph.find_children("csms"))
    found = set()
    for a, b in itertools.combinations(parts, 2):
        if graph.chain_exists(a, b, as_packages=True) and graph.chain_exists(
            b, a, as_packages=True
        ):
            found.add((a, b))
    return found


def test_only_the_entry_points_import_the_composition_root(graph: grimp.ImportGraph) -> None:
    importers = graph.find_modules_that_directly_import("csms.app")
    assert importers <= APP_IMPORTERS, sorted(importers - APP_IMPORTERS)


def test_no_two_parts_of_csms_import_each_other(graph: grimp.ImportGraph) -> None:
    assert circles(graph) <= KNOWN_CIRCLES


def test_a_service_importing_the_root_is_a_circle() -> None:
    """The check sees a TYPE_CHECKING import of the root from a service (the shape issue 17
    removed) as a circle config ↔ app, and from a service interface the API uses as api ↔ app
    (the API no longer imports the services themselves)."""
    graph = grimp.build_graph("csms", "balancing")
    graph.add_import(importer="csms.config.service", imported="csms.app")
    found = circles(graph) - KNOWN_CIRCLES
    assert ("csms.app", "csms.config") in found
    graph.add_import(importer="csms.config.interfaces", imported="csms.app")
    found = circles(graph) - KNOWN_CIRCLES
    assert ("csms.api", "csms.app") in found
