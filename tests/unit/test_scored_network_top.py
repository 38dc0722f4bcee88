"""A first page ranked by partition is the head of the fully sorted ranking; derived answers
are computed once per network."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from scoring_service.scored_network import ScoredNetwork


def _network(n: int, seed: int) -> ScoredNetwork:
    rng = np.random.default_rng(seed)
    scores = rng.choice([0.0, 0.1, 0.25, 0.5, 0.9, 1.0], size=n)  # many ties
    scores[: n // 3] = rng.random(n // 3)
    tiers = rng.integers(1, 5, size=n)
    contacts = [f"c{i:05d}" for i in range(n)]
    return ScoredNetwork("o", contacts, np.zeros((n, 1)), scores, tiers, 0.0)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [0, 1, 10, 57, 499, 500, 800])
@pytest.mark.parametrize("weakest_first", [False, True])
@pytest.mark.parametrize("tiers", [(), (2,), (1, 4)])
def test_top_is_the_head_of_the_order(
    seed: int, k: int, weakest_first: bool, tiers: tuple[int, ...]
) -> None:
    fresh, sorted_first = _network(500, seed), _network(500, seed)
    head, total = fresh.top(weakest_first, tiers, k)
    order = sorted_first.order(weakest_first, tiers)
    assert head == order[:k]
    assert total == len(order)
    if tiers:
        assert all(int(sorted_first.tiers[i]) in tiers for i in order)
        assert len(order) == int(np.isin(sorted_first.tiers, tiers).sum())
    keys = [
        (-s if not weakest_first else s, c)
        for s, c in ((float(sorted_first.scores[i]), sorted_first.contacts[i]) for i in order)
    ]
    assert keys == sorted(keys)  # by score, ties by contact


def test_a_derived_answer_is_computed_once_for_concurrent_readers() -> None:
    network = _network(50, seed=1)
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow() -> str:
        calls.append(1)
        started.set()
        release.wait(5)
        return "summary"

    results: list[str] = []
    first = threading.Thread(target=lambda: results.append(network.once("k", slow)))
    first.start()
    assert started.wait(5)
    others = [
        threading.Thread(target=lambda: results.append(network.once("k", slow))) for _ in range(4)
    ]
    for t in others:
        t.start()
    release.set()
    for t in [first, *others]:
        t.join(5)
    assert results == ["summary"] * 5 and calls == [1]
    assert network.once("k", lambda: "other") == "summary"
