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
from typing import Protocol

import numpy as np
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from scoring_service.features.fold import Events, fold
from scoring_service.features.state import FloatArray, S, new_state
from scoring_service.profiles import EMPTY, of_event
from scoring_service.store import Batch, RelationshipKey, StateStore
from vinculo.identifiers import mirror_event_id
from vinculo.v1 import events_pb2 as pb
from vinculo.validation import Rejection, checked_time

LAST_TIME = S["LAST_TIME"]
FEEDBACK_TIME = S["FEEDBACK_TIME"]
FEEDBACK = pb.INTERACTION_TYPE_FEEDBACK


class RecordLike(Protocol):
    """What the processor needs of a consumed record (kafka-python's ConsumerRecord fits)."""

    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


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


def _decode(record: RecordLike) -> pb.InteractionEvent | Rejection:
    if not record.value:
        return Rejection("empty_value", "value: empty record, expected an InteractionEvent")
    try:
        event: pb.InteractionEvent = pb.InteractionEvent.FromString(record.value)
    except DecodeError as exc:
        return Rejection("undecodable", f"value: not an InteractionEvent protobuf ({exc})")
    return event


def _check_key(record: RecordLike, event: pb.InteractionEvent) -> Rejection | None:
    # The key decides the partition; a record keyed by someone else than its owner
    # would put the owner's state in two partitions (decision 1 (docs/decisions/)).
    key = record.key.decode("utf-8", errors="replace") if record.key is not None else None
    if key != event.owner_id:
        return Rejection("key_mismatch", f"key: {key!r} does not equal owner_id {event.owner_id!r}")
    return None


_Valid = tuple[pb.InteractionEvent, float]  # a valid event and its time


def _checked(record: RecordLike, now: float) -> _Valid | Rejection:
    event = _decode(record)
    if isinstance(event, Rejection):
        return event
    t = checked_time(event, now)
    if isinstance(t, Rejection):
        return t
    return _check_key(record, event) or (event, t)


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
        now = self._clock()
        checked = [_checked(record, now) for record in records]
        poll = _Poll(self.batch, self._stored_states(checked))
        outcomes: list[Outcome] = []
        dead: list[DeadLetter] = []
        for record, valid in zip(records, checked, strict=True):
            if isinstance(valid, Rejection):
                dead.append(
                    DeadLetter(record.partition, record.offset, record.key, record.value, valid)
                )
                outcomes.append(Outcome.DEAD_LETTER)
            elif self.erased is not None and self.erased(
                valid[0].owner_id, valid[0].contact_id, valid[1]
            ):
                outcomes.append(Outcome.ERASED)
            else:
                outcomes.append(self._guarded(record, valid, poll))
            self.batch.offsets[record.partition] = record.offset + 1
        poll.fold()
        return outcomes, dead

    def _stored_states(
        self, checked: list[_Valid | Rejection]
    ) -> dict[RelationshipKey, FloatArray]:
        """Stored states of the relationships these events touch that the batch lacks."""
        wanted = {
            (valid[0].owner_id, valid[0].contact_id)
            for valid in checked
            if not isinstance(valid, Rejection)
        }
        return self._store.load_states(wanted - self.batch.states.keys())

    def _guarded(self, record: RecordLike, valid: _Valid, poll: _Poll) -> Outcome:
        """`_take`, except a record that a restored state already holds."""
        guard = self.guards.get(record.partition)
        if guard is not None:
            if record.offset >= guard.until:
                del self.guards[record.partition]
            else:
                event, t = valid
                end = guard.rows.get((event.owner_id, event.contact_id))
                if end is not None and record.offset < end:
                    self.batch.seen[(event.owner_id, event.event_id)] = t
                    return Outcome.DUPLICATE
        return self._take(record.partition, *valid, poll)

    def _take(self, partition: int, event: pb.InteractionEvent, t: float, poll: _Poll) -> Outcome:
        """Outcome of one valid event; a new one joins the poll's events to fold."""
        owner, event_id = event.owner_id, event.event_id
        key = (owner, event.contact_id)
        feedback = event.type == FEEDBACK
        newest = poll.newest(key, feedback)
        # Applying an event at time t leaves LAST_TIME (FEEDBACK_TIME) >= t, and a
        # redelivered event carries its original time: one newer than the newest
        # cannot have been applied, so its id need not be looked up.
        if (self.strict or t <= newest) and self._seen_time(owner, event_id) is not None:
            return Outcome.DUPLICATE
        # A reply carries the time of what it answers.
        reply_to = self._reply_to_time(event) if event.in_reply_to else None
        poll.add(key, partition, event, t, reply_to)
        profile = of_event(event, t, self.batch.profiles.get(key, EMPTY))
        if profile is not None:
            self.batch.profiles[key] = profile
        if t > newest:
            poll.set_newest(key, feedback, t)
        self.batch.seen[(owner, event_id)] = t
        return Outcome.APPLIED

    def _reply_to_time(self, event: pb.InteractionEvent) -> float | None:
        """The answered event's time: one of the owner's own, else the contact's copy."""
        owner, answered = event.owner_id, event.in_reply_to
        own = self._seen_time(owner, answered)
        if own is not None:
            return own
        return self._seen_time(owner, mirror_event_id(event.contact_id, answered))

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
        self,
        key: RelationshipKey,
        partition: int,
        event: pb.InteractionEvent,
        t: float,
        reply_to: float | None,
    ) -> None:
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = len(self._states)
            current = self._current(key)
            self._states.append(current)
            self._partitions.append(partition)
            if key not in self._batch.states:
                self._batch.before[key] = None if current is None else current.copy()
        # `fold.columns_of`'s columns, read straight from the protobuf (no Interaction).
        columns = (
            event.type,
            event.direction,
            t,
            event.personalized,
            event.duration_seconds,
            event.audience_size,
            event.feedback_label,
            math.nan if reply_to is None else reply_to,
        )
        self._table.append((row, *columns))
        owner, contact = key
        self._batch.history.append((owner, contact, t, *columns[:2], *columns[3:]))
        self._batch.history_ids.append(event.event_id)  # its changelog key (routing/changelog.py)

    def fold(self) -> None:
        if not self._table:
            return
        states = np.array([new_state() if s is None else s for s in self._states], dtype=np.float64)
        fold(states, Events.from_tuples(self._table))
        batch_states = self._batch.states
        for (key, row), partition in zip(self._rows.items(), self._partitions, strict=True):
            batch_states[key] = (partition, states[row])
