"""Records to state changes: decode, validate, deduplicate, fold.

Kafka-free so that unit tests drive it with plain objects. The processor
keeps the changes of every record since the last commit in one `Batch`; the
consumer writes that batch with its offsets in one transaction and starts a
new one. A record is reflected in the batch's offsets only after it was
processed, whatever its outcome (applied, duplicate, dead-lettered).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from scoring_service.consumed import Fields, RecordLike, checked_all
from scoring_service.features.fold import Events, fold
from scoring_service.features.state import FloatArray, S, new_state
from scoring_service.profiles import EMPTY, merged
from scoring_service.store import Batch, RelationshipKey, StateStore
from vinculo.identifiers import mirror_event_id
from vinculo.v1 import events_pb2 as pb
from vinculo.validation import Rejection

__all__ = ["BatchProcessor", "DeadLetter", "Outcome", "RecordLike", "RestoreGuard"]

LAST_TIME = S["LAST_TIME"]
FEEDBACK_TIME = S["FEEDBACK_TIME"]
FEEDBACK = pb.INTERACTION_TYPE_FEEDBACK


class Outcome(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    DEAD_LETTER = "dead_letter"
    ERASED = "erased"  # matched by a tombstone (scoring_service/erasure/): dropped


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that cannot be applied, with why (codes as in vinculo.validation)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    reason: Rejection


@dataclass(frozen=True)
class RestoreGuard:
    """After a restore from the changelog, until input offset `until`: a record of a
    restored relationship whose restored state already holds it (its offset is below
    that state's batch end in `rows`) is not applied again (routing/changelog.py)."""

    until: int
    rows: dict[RelationshipKey, int]


class BatchProcessor:
    def __init__(self, store: StateStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self.batch = Batch()
        # Look every event id up, newer or not: set to replay a batch the store refused.
        self.strict = False
        # Partitions just restored from the changelog, until the consumer passes what
        # the restored states already hold (routing/changelog.py).
        self.guards: dict[int, RestoreGuard] = {}
        # (owner, contact, occurred_at) -> forgotten? (scoring_service/erasure/)
        self.erased: Callable[[str, str, float], bool] | None = None

    def take_batch(self) -> Batch:
        """The changes so far; processing continues in a fresh batch."""
        batch, self.batch = self.batch, Batch()
        return batch

    def process(self, records: Sequence[RecordLike]) -> tuple[list[Outcome], list[DeadLetter]]:
        """Process records, each partition's in offset order.

        All records are decoded and validated first, so that the stored states of
        the relationships they touch are read in one query instead of one each;
        then each is deduplicated in order, and the new ones are folded into the
        states in one vectorised call.
        """
        checked = checked_all(records, self._clock())
        poll = _Poll(self.batch, self._stored_states(checked))
        outcomes: list[Outcome] = []
        dead: list[DeadLetter] = []
        offsets, erased, take = self.batch.offsets, self.erased, self._take
        for record, fields in zip(records, checked, strict=True):
            partition = record.partition
            if isinstance(fields, Rejection):
                dead.append(DeadLetter(partition, record.offset, record.key, record.value, fields))
                outcomes.append(Outcome.DEAD_LETTER)
            elif erased is not None and erased(fields[0], fields[1], fields[3]):
                outcomes.append(Outcome.ERASED)
            elif self.guards and self._guarded(record, fields):
                outcomes.append(Outcome.DUPLICATE)
            else:
                outcomes.append(take(partition, fields, poll))
            offsets[partition] = record.offset + 1
        poll.fold()
        return outcomes, dead

    def _stored_states(
        self, checked: list[Fields | Rejection]
    ) -> dict[RelationshipKey, FloatArray]:
        """Stored states of the relationships these events touch that the batch lacks."""
        wanted = {(f[0], f[1]) for f in checked if not isinstance(f, Rejection)}
        return self._store.load_states(wanted - self.batch.states.keys())

    def _guarded(self, record: RecordLike, fields: Fields) -> bool:
        """Whether a restored state already holds this record (then its id is seen)."""
        guard = self.guards.get(record.partition)
        if guard is None:
            return False
        if record.offset >= guard.until:
            del self.guards[record.partition]
            return False
        owner, contact, event_id, t = fields[:4]
        end = guard.rows.get((owner, contact))
        if end is not None and record.offset < end:
            self.batch.seen[(owner, event_id)] = t
            return True
        return False

    def _take(self, partition: int, fields: Fields, poll: _Poll) -> Outcome:
        """Outcome of one valid event; a new one joins the poll's events to fold."""
        owner, contact, event_id, t, kind = fields[:5]
        key = (owner, contact)
        feedback = kind == FEEDBACK
        newest = poll.newest(key, feedback)
        # Applying an event at time t leaves LAST_TIME (FEEDBACK_TIME) >= t, and a
        # redelivered event carries its original time: one newer than the newest
        # cannot have been applied, so its id need not be looked up.
        if (self.strict or t <= newest) and self._seen_time(owner, event_id) is not None:
            return Outcome.DUPLICATE
        # A reply carries the time of what it answers.
        reply = fields[10]
        reply_to = self._reply_to_time(owner, contact, reply) if reply else None
        poll.add(key, partition, fields, reply_to)
        profile = fields[11:]
        if profile[0] or profile[1] or profile[2]:
            profiles = self.batch.profiles
            profiles[key] = merged(profile, t, profiles.get(key, EMPTY))
        if t > newest:
            poll.set_newest(key, feedback, t)
        self.batch.seen[(owner, event_id)] = t
        return Outcome.APPLIED

    def _reply_to_time(self, owner: str, contact: str, answered: str) -> float | None:
        """The answered event's time: one of the owner's own, else the contact's copy."""
        own = self._seen_time(owner, answered)
        if own is not None:
            return own
        return self._seen_time(owner, mirror_event_id(contact, answered))

    def _seen_time(self, owner: str, event_id: str) -> float | None:
        pending = self.batch.seen.get((owner, event_id))
        return pending if pending is not None else self._store.seen_time(owner, event_id)


class _Poll:
    """The events of one poll to fold, and the relationships they touch.

    Each touched relationship gets a row of a state matrix made from its current
    state (the batch's, else the stored one, else a new one); after the fold the
    batch's states point at the rows. `newest` tracks, per relationship and in
    order, the newest event time (feedback apart) for the seen-id shortcut.
    """

    def __init__(self, batch: Batch, stored: dict[RelationshipKey, FloatArray]) -> None:
        self._batch = batch
        self._stored = stored
        self._rows: dict[RelationshipKey, int] = {}
        self._partitions: list[int] = []
        self._states: list[FloatArray | None] = []
        self._newest: dict[tuple[RelationshipKey, bool], float] = {}
        self._table: list[tuple[float, ...]] = []

    def _current(self, key: RelationshipKey) -> FloatArray | None:
        pending = self._batch.states.get(key)
        return pending[1] if pending is not None else self._stored.get(key)

    def newest(self, key: RelationshipKey, feedback: bool) -> float:
        """Newest time of the relationship's events (its feedback, if `feedback`) so far."""
        slot = (key, feedback)
        known = self._newest.get(slot)
        if known is None:
            current = self._current(key)
            column = FEEDBACK_TIME if feedback else LAST_TIME
            known = self._newest[slot] = -math.inf if current is None else float(current[column])
        return known

    def set_newest(self, key: RelationshipKey, feedback: bool, t: float) -> None:
        self._newest[(key, feedback)] = t

    def add(
        self, key: RelationshipKey, partition: int, fields: Fields, reply_to: float | None
    ) -> None:
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = len(self._states)
            current = self._current(key)
            self._states.append(current)
            self._partitions.append(partition)
            if key not in self._batch.states:
                self._batch.before[key] = None if current is None else current.copy()
        owner, contact, event_id, t, kind, direction, personalized, duration, audience, label = (
            fields[:10]
        )
        reply = math.nan if reply_to is None else reply_to
        # `fold.columns_of`'s columns (no Interaction), and the same as a history row.
        self._table.append(
            (row, kind, direction, t, personalized, duration, audience, label, reply)
        )
        self._batch.history.append(
            (owner, contact, t, kind, direction, personalized, duration, audience, label, reply)
        )
        self._batch.history_ids.append(event_id)  # its changelog key (routing/changelog.py)

    def fold(self) -> None:
        if not self._table:
            return
        states = np.array([new_state() if s is None else s for s in self._states], dtype=np.float64)
        fold(states, Events.from_tuples(self._table))
        batch_states = self._batch.states
        for (key, row), partition in zip(self._rows.items(), self._partitions, strict=True):
            batch_states[key] = (partition, states[row])
