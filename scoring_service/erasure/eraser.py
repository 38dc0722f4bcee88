"""Applies tombstones to the state, in the consumer thread (the store's one writer).

Tombstones arrive from the ErasureService (this instance's callers) and from the
tombstone topic (every instance's). They wait in a queue; between two polls the
consumer commits its batch and calls `apply_pending`, which deletes the data in
one transaction, rewrites the store file, writes null records for the deleted
keys to the changelog, and tells the listeners (the network cache, the watch
streams). From then on the consumer drops every event a known tombstone matches
(`known.erased`), whatever partition or replay it comes from.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from scoring_service.erasure import tables
from scoring_service.erasure.tables import Erased
from scoring_service.store import StateStore
from vinculo.erasure import Tombstone, TombstoneSet

log = logging.getLogger(__name__)

# Hears each applied erasure: what was removed, and the tombstones applied.
ErasureListener = Callable[[Erased, list[Tombstone]], None]


@dataclass(eq=False)
class Ticket:
    """Set once the tombstone is applied here; `removed`: relationships it deleted."""

    tombstone: Tombstone
    done: threading.Event = field(default_factory=threading.Event)
    removed: int = 0


class Eraser:
    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self.known = TombstoneSet(store.with_writer(_load))
        self._pending: queue.SimpleQueue[Ticket] = queue.SimpleQueue()
        self._listeners: list[ErasureListener] = []
        # Set once the tombstone topic was read to its end (follower.py): the consumer
        # waits for it before its first poll, so a new store never applies, even for a
        # moment, events a tombstone on the topic already erased.
        self.caught_up = threading.Event()

    def add_listener(self, listener: ErasureListener) -> None:
        self._listeners.append(listener)

    def submit(self, tombstones: Iterable[Tombstone]) -> list[Ticket]:
        """Queue tombstones for the consumer thread (any thread)."""
        tickets = [Ticket(t) for t in tombstones]
        for ticket in tickets:
            self._pending.put(ticket)
        return tickets

    def has_pending(self) -> bool:
        return not self._pending.empty()

    def tombstones(self) -> list[Tombstone]:
        """Every tombstone this store holds (any thread)."""
        with self._lock:
            return self.known.tombstones()

    def apply_pending(self) -> Erased:
        """Apply the queued tombstones (the consumer thread, with no batch pending)."""
        tickets: list[Ticket] = []
        while not self._pending.empty():
            tickets.append(self._pending.get_nowait())
        with self._lock:
            new = [ticket for ticket in tickets if self.known.add(ticket.tombstone)]
        erased = Erased()
        if new:
            results = self._store.with_writer(
                lambda conn: [tables.erase(conn, ticket.tombstone) for ticket in new], scrub=True
            )
            for ticket, result in zip(new, results, strict=True):
                ticket.removed = len(result.relationships)
                erased.relationships += result.relationships
                erased.seen += result.seen
            log.info(
                "applied %d tombstone(s): %d relationship(s) and %d event id(s) removed",
                len(new),
                len(erased.relationships),
                len(erased.seen),
            )
            for listener in self._listeners:
                listener(erased, [ticket.tombstone for ticket in new])
        for ticket in tickets:
            ticket.done.set()
        return erased


def _load(conn: sqlite3.Connection) -> list[Tombstone]:
    tables.create(conn)  # also registers the digest functions on the writer connection
    return tables.stored(conn)
