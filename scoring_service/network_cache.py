"""A per-owner cache of scored networks for reads "as of now", kept fresh by commits.

A read that leaves `as_of` unset scores the owner's whole network (the model's
owner-relative features need it), which costs O(owner size): ~200 ms for
30,000 relationships. Reads of the same owner within `ttl_s` share one scored
network instead.

Freshness: `StateStore.commit` calls `invalidate` with the rows a batch
changed, by owner, after the transaction, so the next read of such an owner scores the
committed state. A read that started before that commit must not store what it
computed from the older state: each owner has a generation, taken before the
store is read and compared when storing; `invalidate` moves it on. Concurrent
misses of one owner are computed once ("single flight"); a waiter takes the
result only if no commit touched the owner since it arrived, else it joins (or
leads) the next computation with the other waiters.

Staleness without commits: a cached network is scored as of the instant it
was computed, at most `ttl_s` before the read. The decayed counters have
half-lives of 7 days or more, so `ttl_s` = 30 s moves them by at most
1 - 2^(-30 / 7 days) = 0.003%; day-based features ("days since the last
contact") move by at most 30 s. Pages of one ranking share one `as_of` anyway
(the page token pins it), and a token's `as_of` is served from the cache while
the entry it came from is still there.

Carried forward, not re-read (`Rebase`): when a commit changes an owner whose
network is cached (or expired from the cache), the cache keeps that network's
states with the commit's changed rows to be written over them -- the owner's
committed state, exactly, since a cached network is always the latest one.
The next read scores that instead of fetching the owner's rows from SQLite
(49 of ~105 ms at 30,000 relationships). The rows come with the commit, from
the consumer thread, which only keeps them (`_Carried`): the read that needs the
state patches it (~25 MB copied at 30,000 relationships), outside the lock, with
every commit since in one patch. A computation
overtaken by commits (not stored) is carried forward with their rows over its states
(`_carry_forward`): else a large owner fetched from the store more slowly than the
commits come would be fetched again by every read.

Not waiting behind a rescoring (`stale_s`, off when 0): a commit that changes a
cached owner keeps the network it replaces as "superseded". The first read after
the commit rescores (it sees the commit, as without this); a read that arrives
while that rescoring is in flight gets the superseded network at once instead of
waiting for it, for at most `stale_s` after the commit (then it waits). A reader
is therefore answered from the owner's newest scored network, never an older one
than it could have been given before, and a client reading one call after another
sees every commit (docs/decisions/0015-reads-during-a-rescoring.md).

Memory: at most `max_owners` owners (least recently used evicted first) and
`max_rows` relationships in all, networks, carried states and superseded networks
(swept once older than `stale_s`) each; a network
larger than `max_rows` is not cached. `max_owners` = 0 disables the cache.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

V = TypeVar("V")

# Generations of at most this many owners are tracked; beyond it they are all
# reset to one floor value above every generation handed out (conservative:
# a read in flight then does not store its result, it is still answered).
MAX_TRACKED_OWNERS = 65_536
# A reader waits for at most this many computations of an owner begun before a commit
# it must see, then computes alone.
FLIGHT_ROUNDS = 4


@dataclass(frozen=True)
class Rebase(Generic[V]):
    """How a commit's changed rows carry a cached value's state forward.

    `patch` with the rows of several commits, in commit order, must equal patching
    commit by commit (a later row of a key wins): pending commits are applied in one."""

    base_of: Callable[[V], Any]  # the committed state a value was computed from
    patch: Callable[[Any, Sequence[Any]], Any]  # that state with a commit's rows over it (a copy)
    size: Callable[[Any], int]


@dataclass(frozen=True)
class _Carried:
    """An owner's committed state: `state` with the rows of `commits` not yet written over it."""

    state: Any
    commits: tuple[Sequence[Any], ...]
    rows: int  # for the bound on rows: the state's, plus every pending row (at most new)


@dataclass
class _Entry(Generic[V]):
    value: V
    rows: int
    stored_at: float


@dataclass
class _Flight(Generic[V]):
    generation: int
    done: threading.Event = field(default_factory=threading.Event)
    value: V | None = None
    # The rows of the commits that changed the owner while this was computed, in order,
    # and when the first of them came (what the result misses from then on).
    commits: list[Sequence[Any]] = field(default_factory=list)
    overtaken_at: float | None = None
    # Invalidated without rows (an erasure): the result may hold what was forgotten, so
    # it is neither served as superseded nor carried forward.
    forgotten: bool = False


class NetworkCache(Generic[V]):
    def __init__(
        self,
        max_owners: int,
        max_rows: int,
        ttl_s: float,
        size: Callable[[V], int],
        clock: Callable[[], float] = time.monotonic,
        rebase: Rebase[V] | None = None,
        stale_s: float = 0.0,
    ) -> None:
        self.max_owners = max_owners
        self.max_rows = max_rows
        self.ttl_s = ttl_s
        self._size = size
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry[V]] = OrderedDict()
        self._rows = 0
        self._rebase = rebase
        self._bases: OrderedDict[str, _Carried] = OrderedDict()
        self._base_rows = 0
        self._flights: dict[str, _Flight[V]] = {}
        self.stale_s = stale_s
        self._superseded: OrderedDict[str, _Entry[V]] = OrderedDict()  # stored_at: commit time
        self._superseded_rows = 0
        self._generations: dict[str, int] = {}
        self._counter = 0
        self._floor = 0
        self.hits = 0
        self.misses = 0
        self.stale_hits = 0  # reads given the superseded network during a rescoring

    @property
    def enabled(self) -> bool:
        return self.max_owners > 0 and self.max_rows > 0

    def __len__(self) -> int:
        return len(self._entries)

    # --- readers (gRPC threads) ---------------------------------------------------

    def peek(self, owner: str) -> V | None:
        """The owner's cached value if still fresh, without computing it."""
        if not self.enabled:
            return None
        with self._lock:
            return self._fresh(owner)

    def get_or_compute(self, owner: str, compute: Callable[[], V]) -> V:
        """The owner's cached value, or `compute()`'s, stored when no commit intervened."""
        return self.get_or_compute_from(owner, lambda _base: compute())

    def get_or_compute_from(self, owner: str, compute: Callable[[Any | None], V]) -> V:
        """The same; `compute` gets the owner's carried-forward state, or None to read it.

        A reader that finds a computation in flight from an older state (a commit came
        after it started) waits for it and then joins, or leads, the next one: the
        readers of a busy owner share one computation per commit instead of each
        scoring the network alone (up to `FLIGHT_ROUNDS` rounds, then it computes)."""
        if not self.enabled:
            return compute(None)
        carried: _Carried | None = None
        for round_ in range(FLIGHT_ROUNDS):
            with self._lock:
                value = self._fresh(owner)
                if value is not None:
                    self.hits += round_ == 0
                    return value
                self.misses += round_ == 0
                generation = self._generation(owner)
                carried = self._bases.get(owner)
                flight = self._flights.get(owner)
                if flight is None:
                    flight = self._flights[owner] = _Flight(generation)
                    break
                superseded = self._superseded_value(owner)
                if superseded is not None:
                    self.stale_hits += 1
                    return superseded  # a rescoring is under way: not waiting for it
            flight.done.wait()
            if flight.value is not None and flight.generation == generation:
                return flight.value  # computed from the state this reader arrived to
        else:  # still no computation of the state it arrived to: its own
            return compute(self._patched(carried))
        try:
            value = compute(self._patched(carried))
            flight.value = value
            if not self._store(owner, value, flight):
                self._carry_forward(owner, value, flight)
            return value
        finally:
            with self._lock:
                del self._flights[owner]
            flight.done.set()

    def _fresh(self, owner: str) -> V | None:
        entry = self._entries.get(owner)
        if entry is None:
            return None
        if self._clock() - entry.stored_at > self.ttl_s:
            self._drop(owner)
            if self._rebase is not None:  # still the committed state: kept to score again
                self._keep_base(owner, self._rebase.base_of(entry.value))
            return None
        self._entries.move_to_end(owner)
        return entry.value

    def _superseded_value(self, owner: str) -> V | None:
        entry = self._superseded.get(owner)
        if entry is None:
            return None
        if self._clock() - entry.stored_at > self.stale_s:
            self._drop_superseded(owner)
            return None
        return entry.value

    def _carry_forward(self, owner: str, value: V, flight: _Flight[V]) -> None:
        """A computation overtaken by commits: its states with those commits' rows over them
        are the owner's committed state, kept for the next read to score (else a read
        that fetches a large owner from the store, slower than the commits come, is
        overtaken again and again, and every read fetches it again). Re-applying a
        commit the states already held writes the same rows: the result is exact
        whether the store was read before or after each of them."""
        if self._rebase is None:
            return
        with self._lock:
            if owner in self._bases or owner in self._entries:
                return  # the commits carried a state forward themselves, or a read stored
            applied = 0
        state = self._rebase.base_of(value)
        while True:
            with self._lock:
                if flight.forgotten:
                    return  # an erasure came: the owner is read from the store again
                commits = flight.commits[applied:]
                if not commits:
                    if owner not in self._bases and owner not in self._entries:
                        self._keep_base(owner, state)
                    return
            for rows in commits:  # patched outside the lock, as `invalidate` does
                state = self._rebase.patch(state, rows)
            applied += len(commits)

    def _store(self, owner: str, value: V, flight: _Flight[V]) -> bool:
        """Keep `value` as the owner's network; False when a commit overtook it."""
        rows = self._size(value)
        if rows > self.max_rows:
            return True  # too large to keep, not overtaken
        with self._lock:
            if self._generation(owner) != flight.generation:
                # A commit touched the owner while this was computed: not stored, but
                # it is the newest network (readers were given it), so it is the one
                # served while the next is computed, superseded by the first commit
                # it misses.
                if self.stale_s > 0 and flight.overtaken_at is not None and not flight.forgotten:
                    self._supersede(owner, value, rows, flight.overtaken_at)
                return False
            self._drop_superseded(owner)
            self._drop(owner)
            self._drop_base(owner)  # the entry holds the same state
            self._entries[owner] = _Entry(value, rows, self._clock())
            self._rows += rows
            while len(self._entries) > self.max_owners or self._rows > self.max_rows:
                self._drop(next(iter(self._entries)))  # least recently used first
        return True

    # --- the writer (the consumer thread, through StateStore.commit) ---------------

    def invalidate(self, owners: Iterable[str] | Mapping[str, Sequence[Any]]) -> None:
        """These owners' stored state changed: drop their entries, move their generations.

        Given each owner's changed rows (a mapping, as `StateStore.commit` passes
        them) and a `Rebase`, the dropped state is carried forward with them.
        """
        if not self.enabled:
            return
        changed = owners if isinstance(owners, Mapping) else None
        keys = list(owners)
        with self._lock:
            # Every owner's generation moves on; only the few the cache holds anything
            # of need more (a commit changes thousands of owners, it holds at most
            # max_owners of each kind).
            first = self._counter + 1
            self._counter += len(keys)
            self._generations.update(zip(keys, range(first, self._counter + 1), strict=True))
            held = self._entries.keys() | self._bases.keys() | self._flights.keys()
            for owner in held.union(self._superseded).intersection(keys):
                prior = self._prior(owner)
                self._note_change(owner, keys if changed is None else changed)
                self._drop(owner)
                self._drop_base(owner)
                if prior is not None and changed is not None:
                    # The rows are kept, not written over the state: the read that needs
                    # this state patches it (`_patched`), off the consumer thread.
                    self._keep_base(owner, prior.state, (*prior.commits, changed[owner]))
            if len(self._generations) > MAX_TRACKED_OWNERS:
                self._floor = self._counter
                self._generations.clear()

    def _note_change(self, owner: str, owners: Iterable[str] | Mapping[str, Sequence[Any]]) -> None:
        """A commit (rows given) keeps the owner's network as superseded and tells a
        computation in flight which rows it misses; an invalidation without rows (an
        erasure) leaves nothing of the owner to serve or carry."""
        flight = self._flights.get(owner)
        if not isinstance(owners, Mapping):
            self._drop_superseded(owner)
            if flight is not None:
                flight.forgotten = True
            return
        if flight is not None:
            if flight.overtaken_at is None:
                flight.overtaken_at = self._clock()
            flight.commits.append(owners[owner])  # for `_carry_forward`
        entry = self._entries.get(owner)
        if entry is not None and self.stale_s > 0:
            self._supersede(owner, entry.value, entry.rows, self._clock())

    def _prior(self, owner: str) -> _Carried | None:
        """The owner's committed state as the cache holds it, if it holds it."""
        if self._rebase is None:
            return None
        entry = self._entries.get(owner)
        if entry is not None:
            return _Carried(self._rebase.base_of(entry.value), (), entry.rows)
        return self._bases.get(owner)

    def _patched(self, carried: _Carried | None) -> Any | None:
        """The carried state with its pending commits written over it (the caller's
        thread, outside the lock); None when nothing is carried."""
        if carried is None:
            return None
        if not carried.commits:
            return carried.state
        assert self._rebase is not None
        return self._rebase.patch(carried.state, [row for rows in carried.commits for row in rows])

    def _keep_base(self, owner: str, state: Any, commits: tuple[Sequence[Any], ...] = ()) -> None:
        assert self._rebase is not None
        rows = self._rebase.size(state) + sum(len(c) for c in commits)
        if rows > self.max_rows:
            return
        self._drop_base(owner)
        self._bases[owner] = _Carried(state, commits, rows)
        self._base_rows += rows
        while len(self._bases) > self.max_owners or self._base_rows > self.max_rows:
            self._drop_base(next(iter(self._bases)))  # least recently carried first

    def _drop_base(self, owner: str) -> None:
        carried = self._bases.pop(owner, None)
        if carried is not None:
            self._base_rows -= carried.rows

    def _supersede(self, owner: str, value: V, rows: int, at: float) -> None:
        """Keep `value` as the owner's superseded network, superseded at `at`; the ones
        superseded longer than `stale_s` ago are of no more use and go first."""
        self._drop_superseded(owner)
        now = self._clock()
        while self._superseded:
            first = next(iter(self._superseded))
            if now - self._superseded[first].stored_at <= self.stale_s:
                break
            self._drop_superseded(first)
        self._superseded[owner] = _Entry(value, rows, at)
        self._superseded_rows += rows
        while len(self._superseded) > self.max_owners or self._superseded_rows > self.max_rows:
            self._drop_superseded(next(iter(self._superseded)))  # longest superseded first

    def _drop_superseded(self, owner: str) -> None:
        entry = self._superseded.pop(owner, None)
        if entry is not None:
            self._superseded_rows -= entry.rows

    def _generation(self, owner: str) -> int:
        return self._generations.get(owner, self._floor)

    def _drop(self, owner: str) -> None:
        entry = self._entries.pop(owner, None)
        if entry is not None:
            self._rows -= entry.rows
