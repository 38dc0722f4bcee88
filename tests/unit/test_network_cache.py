"""The per-owner cache of scored networks: bounded, expiring, never stale after a commit."""

from __future__ import annotations

import threading

from scoring_service.network_cache import NetworkCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _cache(owners: int = 4, rows: int = 100, ttl: float = 30.0) -> tuple[NetworkCache[str], Clock]:
    clock = Clock()
    return NetworkCache(owners, rows, ttl, size=len, clock=clock), clock


def test_hits_until_the_ttl_expires() -> None:
    cache, clock = _cache()
    assert cache.get_or_compute("ana", lambda: "v1") == "v1"
    assert cache.get_or_compute("ana", lambda: "v2") == "v1"
    clock.now = 30.5
    assert cache.peek("ana") is None
    assert cache.get_or_compute("ana", lambda: "v3") == "v3"
    assert (cache.hits, cache.misses) == (1, 2)


def test_a_commit_drops_the_owner_only() -> None:
    cache, _ = _cache()
    cache.get_or_compute("ana", lambda: "a1")
    cache.get_or_compute("bo", lambda: "b1")
    cache.invalidate({"ana"})
    assert cache.get_or_compute("ana", lambda: "a2") == "a2"
    assert cache.get_or_compute("bo", lambda: "b2") == "b1"


def test_a_result_computed_across_a_commit_is_not_stored() -> None:
    cache, _ = _cache()

    def compute() -> str:
        cache.invalidate({"ana"})  # the consumer commits while the store is read
        return "old"

    assert cache.get_or_compute("ana", compute) == "old"  # answered, not kept
    assert cache.get_or_compute("ana", lambda: "new") == "new"
    assert cache.peek("ana") == "new"


def test_generations_stay_safe_when_their_table_is_reset() -> None:
    import scoring_service.network_cache as module

    cache, _ = _cache(owners=8)
    module_limit = module.MAX_TRACKED_OWNERS
    try:
        module.MAX_TRACKED_OWNERS = 2

        def compute() -> str:
            cache.invalidate({"x", "y", "z"})  # resets the table, not touching ana
            return "maybe-old"

        cache.get_or_compute("ana", compute)
        assert cache.peek("ana") is None  # conservative: not stored
        assert cache.get_or_compute("ana", lambda: "v") == "v"
        assert cache.peek("ana") == "v"
    finally:
        module.MAX_TRACKED_OWNERS = module_limit


def test_bounded_by_owners_and_rows_least_recently_used_first() -> None:
    cache, _ = _cache(owners=2, rows=10)
    cache.get_or_compute("a", lambda: "aaaa")
    cache.get_or_compute("b", lambda: "bbbb")
    cache.peek("a")  # a is now the most recently used
    cache.get_or_compute("c", lambda: "cc")
    assert (cache.peek("a"), cache.peek("b"), cache.peek("c")) == ("aaaa", None, "cc")
    cache.get_or_compute("d", lambda: "d" * 9)  # 9 rows: c (2 rows) no longer fits beside it
    assert len(cache) == 1 and cache.peek("d") == "d" * 9
    cache.get_or_compute("e", lambda: "e" * 11)  # larger than the whole budget: not kept
    assert cache.peek("e") is None and cache.peek("d") == "d" * 9


def test_zero_owners_disables_it() -> None:
    cache, _ = _cache(owners=0)
    assert cache.get_or_compute("ana", lambda: "v1") == "v1"
    assert cache.get_or_compute("ana", lambda: "v2") == "v2"
    assert cache.peek("ana") is None and len(cache) == 0


def test_concurrent_misses_compute_once() -> None:
    cache, _ = _cache()
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow() -> str:
        calls.append(1)
        started.set()
        release.wait(5)
        return "v"

    results: list[str] = []
    leader = threading.Thread(target=lambda: results.append(cache.get_or_compute("ana", slow)))
    leader.start()
    started.wait(5)
    followers = [
        threading.Thread(target=lambda: results.append(cache.get_or_compute("ana", slow)))
        for _ in range(4)
    ]
    for t in followers:
        t.start()
    release.set()
    for t in [leader, *followers]:
        t.join(5)
    assert results == ["v"] * 5 and len(calls) == 1


def test_a_waiter_that_arrived_after_a_commit_does_not_take_the_older_result() -> None:
    cache, _ = _cache()
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(5)
        return "before-commit"

    results: dict[str, str] = {}
    leader = threading.Thread(target=lambda: results.update(a=cache.get_or_compute("ana", slow)))
    leader.start()
    started.wait(5)
    cache.invalidate({"ana"})  # committed after the leader read the store
    follower = threading.Thread(
        target=lambda: results.update(b=cache.get_or_compute("ana", lambda: "after-commit"))
    )
    follower.start()
    release.set()
    leader.join(5)
    follower.join(5)
    assert results == {"a": "before-commit", "b": "after-commit"}
    assert cache.peek("ana") != "before-commit"


def test_commits_and_expiry_carry_the_state_forward() -> None:
    from typing import Any

    from scoring_service.network_cache import Rebase

    clock = Clock()
    rebase: Rebase[dict[str, int]] = Rebase(
        base_of=lambda value: value,
        patch=lambda base, rows: {**base, **dict(rows)},
        size=len,
    )
    cache: NetworkCache[dict[str, int]] = NetworkCache(
        4, 100, 30.0, size=len, clock=clock, rebase=rebase
    )
    given: list[Any] = []

    def compute(base: dict[str, int] | None) -> dict[str, int]:
        given.append(base)
        return {"x": 1} if base is None else dict(base)

    cache.get_or_compute_from("ana", compute)
    cache.invalidate({"ana": [("y", 2)], "bo": [("q", 1)]})  # bo was never cached
    assert cache.get_or_compute_from("ana", compute) == {"x": 1, "y": 2}
    assert cache.get_or_compute_from("bo", compute) == {"x": 1}
    assert given == [None, {"x": 1, "y": 2}, None]
    clock.now = 31.0  # expired: the state is still the committed one
    assert cache.get_or_compute_from("ana", compute) == {"x": 1, "y": 2}
    assert given[-1] == {"x": 1, "y": 2}

    def compute_across_a_commit(base: dict[str, int] | None) -> dict[str, int]:
        cache.invalidate({"ana": [("z", 3)]})
        return {"stale": 0}

    clock.now = 62.0
    assert cache.get_or_compute_from("ana", compute_across_a_commit) == {"stale": 0}
    assert cache.peek("ana") is None  # not stored: a commit came in between
    assert cache.get_or_compute_from("ana", compute) == {"x": 1, "y": 2, "z": 3}
    cache.invalidate({"ana"})  # owners without rows: dropped, nothing carried
    assert cache.get_or_compute_from("ana", compute) == {"x": 1}


def test_waiters_behind_a_commit_share_one_new_computation() -> None:
    """Readers that arrive after a commit, while a computation of the older state runs,
    wait for it and then score the new state once together, not once each."""
    cache, _ = _cache()
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []
    lock = threading.Lock()

    def compute(_base: object) -> str:
        with lock:
            calls.append("x")
            first = len(calls) == 1
        if first:
            started.set()
            release.wait(5)
            return "before-commit"
        return "after-commit"

    results: list[str] = []
    leader = threading.Thread(
        target=lambda: results.append(cache.get_or_compute_from("ana", compute))
    )
    leader.start()
    assert started.wait(5)
    cache.invalidate({"ana"})  # committed while the leader scores the older state
    waiters = [
        threading.Thread(target=lambda: results.append(cache.get_or_compute_from("ana", compute)))
        for _ in range(5)
    ]
    for t in waiters:
        t.start()
    for _ in range(1000):  # until every waiter has arrived (each counted as a miss)
        if cache.misses == 1 + 5:
            break
        threading.Event().wait(0.005)
    assert cache.misses == 6
    release.set()
    for t in [leader, *waiters]:
        t.join(5)
    assert sorted(results) == ["after-commit"] * 5 + ["before-commit"]
    assert len(calls) == 2  # the leader's, then one for all five waiters
    assert cache.peek("ana") == "after-commit"
