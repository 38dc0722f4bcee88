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

from scoring_service.features.state import FloatArray, S, apply_event, new_state
from scoring_service.store import Batch, RelationshipKey, StateStore
from vinculo.domain import Interaction
from vinculo.v1 import events_pb2 as pb
from vinculo.validation import Rejection, to_interaction, validate_event

LAST_TIME = S["LAST_TIME"]
FEEDBACK_TIME = S["FEEDBACK_TIME"]


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


def _checked(record: RecordLike, now: float) -> pb.InteractionEvent | Rejection:
    event = _decode(record)
    if isinstance(event, Rejection):
        return event
    return validate_event(event, now) or _check_key(record, event) or event


class BatchProcessor:
    def __init__(self, store: StateStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self.batch = Batch()
        # Look every event id up, newer or not: set to replay a batch the store refused.
        self.strict = False

    def take_batch(self) -> Batch:
        """The changes so far; processing continues in a fresh batch."""
        batch, self.batch = self.batch, Batch()
        return batch

    def process(self, records: Sequence[RecordLike]) -> tuple[list[Outcome], list[DeadLetter]]:
        """Process records of one partition, in offset order.

        All records are decoded and validated first, so that the stored states of
        the relationships they touch are read in one query instead of one each.
        """
        outcomes: list[Outcome] = []
        dead: list[DeadLetter] = []
        now = self._clock()
        checked = [_checked(record, now) for record in records]
        stored = self._stored_states(checked)
        for record, event in zip(records, checked, strict=True):
            outcome = event if isinstance(event, Rejection) else self._apply(record, event, stored)
            if isinstance(outcome, Rejection):
                dead.append(
                    DeadLetter(record.partition, record.offset, record.key, record.value, outcome)
                )
                outcomes.append(Outcome.DEAD_LETTER)
            else:
                outcomes.append(outcome)
            self.batch.offsets[record.partition] = record.offset + 1
        return outcomes, dead

    def _stored_states(
        self, checked: list[pb.InteractionEvent | Rejection]
    ) -> dict[RelationshipKey, FloatArray]:
        """Stored states of the relationships these events touch that the batch lacks."""
        wanted = {
            (event.owner_id, event.contact_id)
            for event in checked
            if not isinstance(event, Rejection)
        }
        return self._store.load_states(wanted - self.batch.states.keys())

    def _apply(
        self,
        record: RecordLike,
        event: pb.InteractionEvent,
        stored: dict[RelationshipKey, FloatArray],
    ) -> Outcome:
        owner, contact = event.owner_id, event.contact_id
        pending = self.batch.states.get((owner, contact))
        current = pending[1] if pending is not None else stored.get((owner, contact))
        interaction = to_interaction(event)
        if (self.strict or _may_have_been_applied(interaction, current)) and self._seen_time(
            owner, event.event_id
        ) is not None:
            return Outcome.DUPLICATE
        if event.in_reply_to:  # a reply carries the time of what it answers
            reply_to_time = self._seen_time(owner, event.in_reply_to)
            interaction = to_interaction(event, reply_to_time=reply_to_time)
        state = self._state_for_update(owner, contact, record.partition, current)
        apply_event(state, interaction)
        self.batch.seen[(owner, event.event_id)] = interaction.time
        return Outcome.APPLIED

    def _seen_time(self, owner: str, event_id: str) -> float | None:
        pending = self.batch.seen.get((owner, event_id))
        return pending if pending is not None else self._store.seen_time(owner, event_id)

    def _state_for_update(
        self, owner: str, contact: str, partition: int, current: FloatArray | None
    ) -> FloatArray:
        """`current` (the batch's or the stored state), registered in the batch as changed."""
        key = (owner, contact)
        if key in self.batch.states:
            return self.batch.states[key][1]
        self.batch.before[key] = None if current is None else current.copy()
        state = new_state() if current is None else current
        self.batch.states[key] = (partition, state)
        return state


def _may_have_been_applied(event: Interaction, state: FloatArray | None) -> bool:
    """False when the event is certainly new to this relationship, so the seen-id lookup
    (one SQLite query per record, most of them misses) is skipped.

    Applying an event at time t leaves LAST_TIME >= t (FEEDBACK_TIME >= t for feedback),
    and a redelivered event carries the same time; an event newer than both cannot have
    been applied. A time-ordered stream, the usual case, never needs the lookup.
    """
    if state is None:
        return False
    newest = (
        state[FEEDBACK_TIME] if event.type == pb.INTERACTION_TYPE_FEEDBACK else state[LAST_TIME]
    )
    return bool(event.time <= newest)
