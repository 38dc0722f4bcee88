"""What the consumer hands the state store to commit, and the store's write errors
(scoring_service/store.py re-exports them)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from scoring_service import history
from scoring_service.codec import encode_states
from scoring_service.features.state import STATE_SIZE, FloatArray
from scoring_service.profiles import Profile

RelationshipKey = tuple[str, str]  # (owner, contact)
# Hears each commit that changed state: owner -> [(contact, new state)].
CommitListener = Callable[[dict[str, list[tuple[str, FloatArray]]]], None]


def cannot_write(exc: sqlite3.OperationalError) -> bool:
    """The write failed for want of space (SQLITE_FULL), an I/O error, or another process
    holding the file's write lock (SQLITE_BUSY): worth pausing and retrying, not exiting."""
    code = getattr(exc, "sqlite_errorcode", None)
    retried = (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_BUSY)
    return code is not None and (code & 0xFF) in retried


class StateSchemaMismatch(RuntimeError):
    """Stored state was written with another state layout version."""


class SeenBefore(RuntimeError):
    """The batch holds an event whose (owner, event_id) the store already has.

    The processor skips the seen-id lookup for events newer than their
    relationship; only an id reused with a newer time gets past that, and this
    check at commit catches it. Nothing of the batch was written.
    """


@dataclass
class Batch:
    """State changes of processed records, not yet durable.

    `states` holds the newest state of every relationship changed since the
    last commit, `before` its state at the start of the batch (None when new),
    `offsets` the next offset per partition after the last processed record.
    """

    states: dict[RelationshipKey, tuple[int, FloatArray]] = field(default_factory=dict)
    before: dict[RelationshipKey, FloatArray | None] = field(default_factory=dict)
    seen: dict[tuple[str, str], float] = field(default_factory=dict)
    offsets: dict[int, int] = field(default_factory=dict)
    history: list[history.HistoryRow] = field(default_factory=list)  # applied events
    history_ids: list[str] = field(default_factory=list)  # each history row's event id
    profiles: dict[RelationshipKey, Profile] = field(default_factory=dict)
    _blobs: list[bytes] | None = field(default=None, repr=False, compare=False)

    def state_blobs(self) -> list[bytes]:
        """Each changed state encoded as stored, in `states` order: the store and the
        changelog write the same bytes, so a commit encodes them once. A taken batch
        (the consumer's `take_batch`) no longer changes."""
        if self._blobs is None:
            states = np.array([state for _, state in self.states.values()])
            self._blobs = encode_states(states.reshape(-1, STATE_SIZE))
        return self._blobs

    def __bool__(self) -> bool:
        return bool(self.offsets or self.states)

    @property
    def new_relationships(self) -> int:
        return sum(1 for old in self.before.values() if old is None)
