"""Records to state changes: decode, validate, deduplicate, apply.

Kafka-free so that unit tests drive it with plain objects. The processor
keeps the changes of every record since the last commit in one `Batch`; the
consumer writes that batch with its offsets in one transaction and starts a
new one. A record is reflected in the batch's offsets only after it was
processed, whatever its outcome (applied, duplicate, dead-lettered).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from scoring_service.features.state import FloatArray, apply_event, new_state
from scoring_service.store import Batch, StateStore
from vinculo.v1 import events_pb2 as pb
from vinculo.validation import Rejection, event_time, to_interaction, validate_event


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
    event = pb.InteractionEvent()
    try:
        event.ParseFromString(record.value)
    except DecodeError as exc:
        return Rejection("undecodable", f"value: not an InteractionEvent protobuf ({exc})")
    return event


def _check_key(record: RecordLike, event: pb.InteractionEvent) -> Rejection | None:
    # The key decides the partition; a record keyed by someone else than its owner
    # would put the owner's state in two partitions (DESIGN.md decision 1).
    key = record.key.decode("utf-8", errors="replace") if record.key is not None else None
    if key != event.owner_id:
        return Rejection("key_mismatch", f"key: {key!r} does not equal owner_id {event.owner_id!r}")
    return None


class BatchProcessor:
    def __init__(self, store: StateStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self.batch = Batch()

    def take_batch(self) -> Batch:
        """The changes so far; processing continues in a fresh batch."""
        batch, self.batch = self.batch, Batch()
        return batch

    def process(self, records: Sequence[RecordLike]) -> tuple[list[Outcome], list[DeadLetter]]:
        """Process records of one partition, in offset order."""
        outcomes: list[Outcome] = []
        dead: list[DeadLetter] = []
        now = self._clock()
        for record in records:
            outcome = self._process_one(record, now)
            if isinstance(outcome, Rejection):
                dead.append(
                    DeadLetter(record.partition, record.offset, record.key, record.value, outcome)
                )
                outcomes.append(Outcome.DEAD_LETTER)
            else:
                outcomes.append(outcome)
            self.batch.offsets[record.partition] = record.offset + 1
        return outcomes, dead

    def _process_one(self, record: RecordLike, now: float) -> Outcome | Rejection:
        event = _decode(record)
        if isinstance(event, Rejection):
            return event
        problem = validate_event(event, now) or _check_key(record, event)
        if problem is not None:
            return problem
        owner = event.owner_id
        if self._seen_time(owner, event.event_id) is not None:
            return Outcome.DUPLICATE
        reply_to_time = self._seen_time(owner, event.in_reply_to) if event.in_reply_to else None
        state = self._state_for_update(owner, event.contact_id, record.partition)
        apply_event(state, to_interaction(event, reply_to_time=reply_to_time))
        self.batch.seen[(owner, event.event_id)] = event_time(event)
        return Outcome.APPLIED

    def _seen_time(self, owner: str, event_id: str) -> float | None:
        pending = self.batch.seen.get((owner, event_id))
        return pending if pending is not None else self._store.seen_time(owner, event_id)

    def _state_for_update(self, owner: str, contact: str, partition: int) -> FloatArray:
        key = (owner, contact)
        pending = self.batch.states.get(key)
        if pending is not None:
            return pending[1]
        stored = self._store.load_state(owner, contact)
        self.batch.before[key] = None if stored is None else stored.copy()
        state = new_state() if stored is None else stored
        self.batch.states[key] = (partition, state)
        return state
