"""A commit hands the cache its changed rows; the consumer thread only keeps them, and the
read that needs the owner's state writes them over it, every commit since in one patch."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from scoring_service.network_cache import NetworkCache, Rebase
from scoring_service.scored_network import OwnerStates, with_changed_rows


class Recorder:
    """`with_changed_rows`, noting which thread called it with how many rows."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __call__(self, base: OwnerStates, rows: Sequence[Any]) -> OwnerStates:
        self.calls.append((threading.current_thread().name, len(rows)))
        return with_changed_rows(base, rows)


def _state(value: float) -> np.ndarray:
    return np.full(3, value)


def _cache(patch: Recorder) -> NetworkCache[OwnerStates]:
    rebase: Rebase[OwnerStates] = Rebase(
        base_of=lambda value: value, patch=patch, size=lambda base: len(base[0])
    )
    return NetworkCache(4, 1000, 30.0, size=lambda value: len(value[0]), rebase=rebase)


def test_commits_keep_their_rows_and_the_read_patches_them_once() -> None:
    patch = Recorder()
    cache = _cache(patch)
    first: OwnerStates = (["b", "d"], np.asfortranarray(np.stack([_state(1), _state(2)])))
    given: list[OwnerStates | None] = []

    def compute(base: OwnerStates | None) -> OwnerStates:
        given.append(base)
        return first if base is None else base

    cache.get_or_compute_from("ana", compute)

    def commit() -> None:
        cache.invalidate({"ana": [("c", _state(3)), ("d", _state(4))], "bo": [("x", _state(0))]})
        cache.invalidate({"ana": [("c", _state(5)), ("a", _state(6))]})

    committer = threading.Thread(target=commit, name="committer")
    committer.start()
    committer.join(5)
    assert patch.calls == []  # nothing copied on the committing thread
    contacts, states = cache.get_or_compute_from("ana", compute)
    assert patch.calls == [(threading.current_thread().name, 4)]  # both commits, one patch
    # the same as writing the commits one after the other
    want_contacts, want_states = with_changed_rows(
        with_changed_rows(first, [("c", _state(3)), ("d", _state(4))]),
        [("c", _state(5)), ("a", _state(6))],
    )
    assert contacts == want_contacts == ["a", "b", "c", "d"]
    assert np.array_equal(states, want_states)
    assert states[2].tolist() == [5.0, 5.0, 5.0]  # the later commit's row wins
    assert cache.get_or_compute_from("bo", compute) is first  # bo was never held: computed
    assert given[-1] is None


def test_pending_rows_count_against_the_rows_bound() -> None:
    patch = Recorder()
    rebase: Rebase[OwnerStates] = Rebase(
        base_of=lambda value: value, patch=patch, size=lambda base: len(base[0])
    )
    cache: NetworkCache[OwnerStates] = NetworkCache(
        4, 5, 30.0, size=lambda value: len(value[0]), rebase=rebase
    )
    first: OwnerStates = (["b", "d"], np.stack([_state(1), _state(2)]))
    cache.get_or_compute_from("ana", lambda base: first)
    cache.invalidate({"ana": [("c", _state(3))]})  # 2 + 1 rows: kept
    cache.invalidate({"ana": [("e", _state(4)), ("f", _state(5))]})  # 2 + 3 rows: kept
    cache.invalidate({"ana": [("g", _state(6))]})  # 2 + 4 rows > 5: dropped
    given: list[OwnerStates | None] = []

    def compute(base: OwnerStates | None) -> OwnerStates:
        given.append(base)
        return first

    cache.get_or_compute_from("ana", compute)
    assert given == [None]  # read again from the store
    assert patch.calls == []
