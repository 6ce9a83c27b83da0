"""`csms serve` tunes the cyclic garbage collector once it listens (`tune_collector`).

The figures behind the numbers are in docs/performance.md ("The collector"); here only that the
server's process gets them, and that freezing leaves later garbage collectable.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from csms.cli.serve import FULL_PASS_THRESHOLD, YOUNG_GENERATION_THRESHOLD, tune_collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_start_up_is_frozen_and_the_young_and_oldest_generations_are_collected_less_often() -> None:
    gc.set_threshold(700, 10, 10)
    tune_collector()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, 10, FULL_PASS_THRESHOLD)
    assert YOUNG_GENERATION_THRESHOLD > 700 and FULL_PASS_THRESHOLD > 10


@pytest.mark.usefixtures("restored_collector")
def test_a_cycle_made_after_the_freeze_is_still_collected() -> None:
    tune_collector()

    class Node:
        other: Node

    a, b = Node(), Node()
    a.other, b.other = b, a
    gone: list[str] = []
    weakref.finalize(a, gone.append, "a")
    del a, b
    gc.collect()
    assert gone == ["a"]
