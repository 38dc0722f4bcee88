"""Reads during a rescoring after a commit (`stale_s`): the superseded network, bounded in
time, never older than what a reader could have had, and never to a reader that comes first."""

from __future__ import annotations

import threading
from collections.abc import Callable

from scoring_service.network_cache import NetworkCache, Rebase


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


ROWS = [("c", 1)]  # a commit's changed rows (a commit always names them)


def _cache(
    stale_s: float = 0.5, owners: int = 4, rows: int = 100
) -> tuple[NetworkCache[str], Clock]:
    clock = Clock()
    return NetworkCache(owners, rows, 30.0, size=len, clock=clock, stale_s=stale_s), clock


class Rescoring:
    """A computation that runs in its own thread until released."""

    def __init__(self, cache: NetworkCache[str], value: str) -> None:
        self.started, self.release = threading.Event(), threading.Event()
        self.result: list[str] = []

        def compute() -> str:
            self.started.set()
            assert self.release.wait(5)
            return value

        self.thread = threading.Thread(
            target=lambda: self.result.append(cache.get_or_compute("ana", compute))
        )
        self.thread.start()
        assert self.started.wait(5)

    def finish(self) -> str:
        self.release.set()
        self.thread.join(5)
        return self.result[0]


def _never(value: str = "computed") -> Callable[[], str]:
    def compute() -> str:
        raise AssertionError(f"a read computed ({value}) instead of taking the superseded one")

    return compute


def test_the_first_read_after_a_commit_rescores_the_others_get_the_superseded_one() -> None:
    cache, clock = _cache()
    assert cache.get_or_compute("ana", lambda: "v1") == "v1"
    cache.invalidate({"ana": ROWS})
    clock.now = 0.1
    leader = Rescoring(cache, "v2")  # the first read sees the commit
    assert cache.get_or_compute("ana", _never()) == "v1"  # no waiting behind it
    assert cache.stale_hits == 1
    assert leader.finish() == "v2"
    assert cache.get_or_compute("ana", _never()) == "v2"  # stored: a hit, the newest
    cache.invalidate({"ana": ROWS})
    assert cache.get_or_compute("ana", lambda: "v3") == "v3"  # sequential reads see commits


def test_the_superseded_network_is_served_only_within_stale_s_of_the_commit() -> None:
    cache, clock = _cache(stale_s=0.5)
    cache.get_or_compute("ana", lambda: "v1")
    cache.invalidate({"ana": ROWS})
    leader = Rescoring(cache, "v2")
    clock.now = 0.6  # the commit is older than stale_s: wait for the rescoring
    waiter: list[str] = []
    thread = threading.Thread(target=lambda: waiter.append(cache.get_or_compute("ana", _never())))
    thread.start()
    thread.join(0.2)
    assert thread.is_alive() and not waiter  # waiting, not answered with v1
    assert leader.finish() == "v2"
    thread.join(5)
    assert waiter == ["v2"] and cache.stale_hits == 0


def test_off_by_default_readers_wait_for_the_rescoring() -> None:
    cache, _ = _cache(stale_s=0.0)
    cache.get_or_compute("ana", lambda: "v1")
    cache.invalidate({"ana": ROWS})
    leader = Rescoring(cache, "v2")
    waiter: list[str] = []
    thread = threading.Thread(target=lambda: waiter.append(cache.get_or_compute("ana", _never())))
    thread.start()
    thread.join(0.2)
    assert thread.is_alive()
    leader.finish()
    thread.join(5)
    assert waiter == ["v2"]


def test_a_result_overtaken_by_a_commit_replaces_the_superseded_one() -> None:
    """Readers were given v2 (computed across a second commit, not stored): while v3 is
    computed, the superseded network handed out is v2, never the older v1, for at most
    `stale_s` after the commit v2 misses."""
    cache, clock = _cache()
    cache.get_or_compute("ana", lambda: "v1")
    cache.invalidate({"ana": ROWS})
    clock.now = 0.1

    def across_a_commit() -> str:
        cache.invalidate({"ana": ROWS})  # the consumer commits while v2 is computed
        return "v2"

    assert cache.get_or_compute("ana", across_a_commit) == "v2"
    leader = Rescoring(cache, "v3")
    assert cache.get_or_compute("ana", _never()) == "v2"
    clock.now = 0.55  # the bound counts from the first commit v2 misses (at 0.1)
    assert cache.get_or_compute("ana", _never()) == "v2"
    clock.now = 0.65
    waiter: list[str] = []
    thread = threading.Thread(target=lambda: waiter.append(cache.get_or_compute("ana", _never())))
    thread.start()
    thread.join(0.2)
    assert thread.is_alive()
    assert leader.finish() == "v3"
    thread.join(5)
    assert waiter == ["v3"]


def test_ttl_expiry_is_not_a_commit_expired_networks_are_never_served() -> None:
    cache, clock = _cache()
    cache.get_or_compute("ana", lambda: "v1")
    clock.now = 31.0  # expired, no commit
    leader = Rescoring(cache, "v2")
    waiter: list[str] = []
    thread = threading.Thread(target=lambda: waiter.append(cache.get_or_compute("ana", _never())))
    thread.start()
    thread.join(0.2)
    assert thread.is_alive()
    leader.finish()
    thread.join(5)
    assert waiter == ["v2"]


def test_superseded_networks_are_bounded_like_the_cache() -> None:
    cache, _ = _cache(owners=2, rows=100)
    for owner in ("a", "b", "c"):
        cache.get_or_compute(owner, lambda o=owner: o * 10)  # type: ignore[misc]
        cache.invalidate({owner: ROWS})
    assert len(cache._superseded) == 2 and cache._superseded_rows == 20
    assert "a" not in cache._superseded  # the longest superseded went first


def test_a_store_read_overtaken_by_commits_is_carried_forward_not_read_again() -> None:
    """A large owner read from the store more slowly than commits come: the next read
    scores its states with the commits' rows over them, instead of reading it again
    (and being overtaken again)."""
    rebase: Rebase[dict[str, int]] = Rebase(
        base_of=lambda value: value,
        patch=lambda base, rows: {**base, **dict(rows)},
        size=len,
    )
    cache: NetworkCache[dict[str, int]] = NetworkCache(4, 100, 30.0, size=len, rebase=rebase)
    given: list[dict[str, int] | None] = []

    def from_the_store_across_commits(base: dict[str, int] | None) -> dict[str, int]:
        given.append(base)
        cache.invalidate({"ana": [("y", 2)]})  # committed before the store was read:
        read = {"x": 1, "y": 2}  # ... the read holds it
        cache.invalidate({"ana": [("z", 3), ("y", 4)]})  # and one after it
        return read

    def compute(base: dict[str, int] | None) -> dict[str, int]:
        given.append(base)
        assert base is not None, "read from the store again"
        return dict(base)

    assert cache.get_or_compute_from("ana", from_the_store_across_commits) == {"x": 1, "y": 2}
    assert cache.get_or_compute_from("ana", compute) == {"x": 1, "y": 4, "z": 3}
    assert given == [None, {"x": 1, "y": 4, "z": 3}]
    assert cache.peek("ana") == {"x": 1, "y": 4, "z": 3}


def test_an_erasure_leaves_nothing_of_the_owner_to_serve_or_carry() -> None:
    """An invalidation without rows (an erasure) drops the superseded network, and a
    computation it overtakes is neither served as superseded nor carried forward: it
    may hold what was forgotten."""
    rebase: Rebase[dict[str, int]] = Rebase(
        base_of=lambda value: value,
        patch=lambda base, rows: {**base, **dict(rows)},
        size=len,
    )
    cache: NetworkCache[dict[str, int]] = NetworkCache(
        4, 100, 30.0, size=len, rebase=rebase, stale_s=0.5
    )
    cache.get_or_compute_from("ana", lambda base: {"x": 1, "gone": 1})
    cache.invalidate({"ana": [("y", 2)]})  # a commit: superseded kept
    cache.invalidate({"ana"})  # then an erasure: nothing of it kept
    assert cache._superseded == {} and cache._bases == {}
    given: list[dict[str, int] | None] = []

    def from_the_store_across_an_erasure(base: dict[str, int] | None) -> dict[str, int]:
        given.append(base)
        cache.invalidate({"ana": [("z", 3)]})  # a commit,
        cache.invalidate({"ana"})  # and an erasure after the store was read
        return {"x": 1, "gone": 1, "z": 3}

    cache.get_or_compute_from("ana", from_the_store_across_an_erasure)
    assert cache._superseded == {} and cache._bases == {}
    assert cache.get_or_compute_from("ana", lambda base: given.append(base) or {"x": 1}) == {"x": 1}
    assert given == [None, None]  # read from the store both times
