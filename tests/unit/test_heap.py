"""vinculo.heap: the start's objects frozen, its garbage freed first, later objects collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from vinculo.heap import freeze_startup_heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture
def thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # other tests see the collector as they found it


def test_garbage_is_freed_before_the_rest_is_frozen(thawed: None) -> None:
    garbage = _cycle()
    kept = _Node()
    freeze_startup_heap()
    assert garbage() is None  # an unreachable cycle is not frozen with the start
    assert gc.get_freeze_count() > 0
    assert not any(obj is kept for obj in gc.get_objects())  # out of the collector's walk


def test_objects_made_after_the_freeze_are_collected_as_before(thawed: None) -> None:
    freeze_startup_heap()
    later = _cycle()
    assert later() is not None
    gc.collect()
    assert later() is None
