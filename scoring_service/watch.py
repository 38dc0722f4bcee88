"""Fan-out of committed state changes to WatchRelationships streams.

The consumer thread publishes, after each commit, the before/after states of
the relationships it changed, for owners someone watches (one pass over the
commit, whatever the number of watched owners); scoring them is left to the
watching streams (once per owner, shared) so the consumer never waits on a client.
A watcher that falls behind by more than `QUEUE_LIMIT` batches is cut off
(its stream ends with RESOURCE_EXHAUSTED) instead of slowing consumption.

A stream waits on its queue without polling: every way it can end (the server
closing, the client going away, falling behind) puts an `End` in the queue,
which is unbounded for that reason (the limit is counted by `_offer`). 1,000
idle streams then cost no CPU; each still holds one gRPC thread (measured
RSS per stream: `bench.watch_streams`).
"""

from __future__ import annotations

import enum
import queue
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scoring_service.features.state import FloatArray
from scoring_service.store import Batch, RelationshipKey

QUEUE_LIMIT = 1000


class End(enum.Enum):
    """Why a stream's queue says it is over."""

    CLOSED = "server shutting down"
    CANCELLED = "client gone"
    OVERFLOWED = "fell behind"
    ERASED = "the owner's data was erased"


@dataclass(frozen=True, slots=True)
class OwnerChanges:
    """Changed relationships of one owner in one commit; `before` is None for a new one."""

    owner_id: str
    contacts: list[str]
    before: list[FloatArray | None]
    after: list[FloatArray]
    committed_at: float
    # What the streams of this owner derive from these changes, computed by the first
    # of them (under `lock`) and read by the others: one scoring per commit, not per stream.
    derived: dict[object, Any] = field(default_factory=dict, compare=False, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)


@dataclass(eq=False)
class Watcher:
    owner_id: str
    changes: queue.SimpleQueue[OwnerChanges | End] = field(default_factory=queue.SimpleQueue)
    overflowed: bool = False

    def end(self, why: End) -> None:
        """Wake the stream for good (any thread; a later `end` is ignored by the stream)."""
        self.changes.put(why)


class TooManyWatchers(RuntimeError):
    """The hub already serves its maximum number of streams."""


class WatchHub:
    def __init__(self, max_watchers: int = 1000) -> None:
        self._max_watchers = max_watchers
        self._lock = threading.Lock()
        self._watchers: dict[str, set[Watcher]] = defaultdict(set)
        self._count = 0  # watchers in `_watchers`
        self._closed = False

    def subscribe(self, owner_id: str) -> Watcher:
        watcher = Watcher(owner_id)
        with self._lock:
            if self._closed:
                watcher.end(End.CLOSED)
                return watcher
            if self._count >= self._max_watchers:
                raise TooManyWatchers(f"{self._max_watchers} watch streams already open")
            self._watchers[owner_id].add(watcher)
            self._count += 1
        return watcher

    @property
    def open_streams(self) -> int:
        """How many watch streams are subscribed now."""
        with self._lock:
            return self._count

    def unsubscribe(self, watcher: Watcher) -> None:
        with self._lock:
            watchers = self._watchers.get(watcher.owner_id)
            if watchers is not None and watcher in watchers:
                watchers.discard(watcher)
                self._count -= 1
                if not watchers:
                    del self._watchers[watcher.owner_id]

    def publish(self, batch: Batch, committed_at: float) -> None:
        """Called by the consumer after `batch` is durable: one pass over the batch,
        whatever the number of watched owners (not a pass per watched owner)."""
        with self._lock:
            if not self._watchers:
                return
        by_owner: dict[str, list[RelationshipKey]] = defaultdict(list)
        for key in batch.states:
            by_owner[key[0]].append(key)
        with self._lock:
            targets = [
                (owner, list(subscribed))
                for owner in by_owner
                if (subscribed := self._watchers.get(owner))
            ]
        for owner, watchers in targets:
            changes = _changes_of(batch, owner, by_owner[owner], committed_at)
            for watcher in watchers:
                self._offer(watcher, changes)

    def _offer(self, watcher: Watcher, changes: OwnerChanges) -> None:
        if watcher.changes.qsize() >= QUEUE_LIMIT:
            watcher.overflowed = True
            self.unsubscribe(watcher)
            watcher.end(End.OVERFLOWED)
            return
        watcher.changes.put(changes)

    def end_streams(self, owners: Callable[[str], bool]) -> None:
        """End the streams of the owners `owners` selects (their data was erased)."""
        with self._lock:
            ended = [w for owner, ws in self._watchers.items() if owners(owner) for w in ws]
        for watcher in ended:
            self.unsubscribe(watcher)
            watcher.end(End.ERASED)

    def close(self) -> None:
        """End every stream (shutdown)."""
        with self._lock:
            self._closed = True
            watchers = [w for ws in self._watchers.values() for w in ws]
            self._watchers.clear()
            self._count = 0
        for watcher in watchers:
            watcher.end(End.CLOSED)


def _changes_of(
    batch: Batch, owner: str, keys: list[RelationshipKey], committed_at: float
) -> OwnerChanges:
    return OwnerChanges(
        owner_id=owner,
        contacts=[contact for _, contact in keys],
        before=[batch.before.get(key) for key in keys],
        after=[batch.states[key][1] for key in keys],
        committed_at=committed_at,
    )
