"""A consumed record's event: decoded, checked, and its fields read once.

Reading a field of a protobuf message is a C call that makes a new Python object
(~0.13 µs each, measured with the upb backend); checking a record with
`vinculo.validation.checked_time` and then processing it read about 37 fields. Here
each field is read once into a plain tuple (`Fields`), the usual case of every
rule is checked on those values, and anything unusual (a reply, an unprintable
channel, a time out of range, an unknown enum...) goes through `checked_time`
itself, so the accepted records and the reasons given for the others stay
exactly `checked_time`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from vinculo.v1 import events_pb2 as pb
from vinculo.validation import (
    MAX_AUDIENCE,
    MAX_CHANNEL_LENGTH,
    MAX_DURATION_SECONDS,
    MAX_FUTURE_SECONDS,
    MAX_ID_LENGTH,
    MAX_PROFILE_LENGTH,
    MIN_TIME_SECONDS,
    NANOS_PER_SECOND,
    Rejection,
    checked_time,
    usual_ids,
)

# owner, contact, event_id, t, type, direction, personalized, duration_seconds,
# audience_size, feedback_label, in_reply_to, contact_name, contact_company, contact_position
Fields = tuple[str, str, str, float, int, int, bool, int, int, int, str, str, str, str]

_TYPES = frozenset(pb.InteractionType.values()) - {pb.INTERACTION_TYPE_UNSPECIFIED}
_DIRECTIONS = frozenset(pb.Direction.values()) - {pb.DIRECTION_UNSPECIFIED}
_FEEDBACK = pb.INTERACTION_TYPE_FEEDBACK
_LABELS = frozenset(pb.FeedbackLabel.values()) - {pb.FEEDBACK_LABEL_UNSPECIFIED}
_NO_LABEL = pb.FEEDBACK_LABEL_UNSPECIFIED
_FROM_STRING = pb.InteractionEvent.FromString


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


def checked_all(records: Sequence[RecordLike], now: float) -> list[Fields | Rejection]:
    """Each record's event fields when it is valid, else why not."""
    latest = now + MAX_FUTURE_SECONDS
    return [_checked(record, now, latest) for record in records]


def _checked(record: RecordLike, now: float, latest: float) -> Fields | Rejection:
    value = record.value
    if not value:
        return Rejection("empty_value", "value: empty record, expected an InteractionEvent")
    try:
        event = _FROM_STRING(value)
    except DecodeError as exc:
        return Rejection("undecodable", f"value: not an InteractionEvent protobuf ({exc})")
    owner, contact, event_id = event.owner_id, event.contact_id, event.event_id
    kind, direction, label = event.type, event.direction, event.feedback_label
    stamp = event.occurred_at
    seconds, nanos = stamp.seconds, stamp.nanos
    channel, reply = event.channel, event.in_reply_to
    duration, audience = event.duration_seconds, event.audience_size
    name, company, position = event.contact_name, event.contact_company, event.contact_position
    # occurred_at unset reads 0 s: before MIN_TIME_SECONDS, so it takes the slow path.
    t = (seconds * NANOS_PER_SECOND + nanos) / NANOS_PER_SECOND
    if not (
        0 <= nanos < NANOS_PER_SECOND
        and MIN_TIME_SECONDS <= t <= latest
        and kind in _TYPES
        and direction in _DIRECTIONS
        and ((label in _LABELS) if kind == _FEEDBACK else label == _NO_LABEL)
        and (not reply or _usual_reply(reply, event_id))
        and owner != contact
        and duration <= MAX_DURATION_SECONDS
        and audience <= MAX_AUDIENCE
        and len(channel) <= MAX_CHANNEL_LENGTH
        and (not channel or (channel.isascii() and channel.isprintable()))
        and len(name) <= MAX_PROFILE_LENGTH
        and len(company) <= MAX_PROFILE_LENGTH
        and len(position) <= MAX_PROFILE_LENGTH
        and usual_ids(owner, contact, event_id, False)
    ):
        checked = checked_time(event, now)  # the unusual case: the rules, one by one
        if isinstance(checked, Rejection):
            return checked
        t = checked
    key = record.key
    if key is None or key != owner.encode():
        # The key decides the partition; a record keyed by someone else than its owner
        # would put the owner's state in two partitions (decision 1 (docs/decisions/)).
        shown = key.decode("utf-8", errors="replace") if key is not None else None
        if shown != owner:
            return Rejection("key_mismatch", f"key: {shown!r} does not equal owner_id {owner!r}")
    personalized = event.personalized
    return (owner, contact, event_id, t, kind, direction, personalized, duration, audience,
            label, reply, name, company, position)  # fmt: skip


def _usual_reply(reply: str, event_id: str) -> bool:
    """`in_reply_to`'s usual case: another event's id of printable ASCII (NFC, and
    whitespace only as a space), within the length limit, no space at either end."""
    return (
        reply != event_id
        and len(reply) <= MAX_ID_LENGTH
        and reply.isascii()
        and reply.isprintable()
        and reply[0] != " "
        and reply[-1] != " "
    )
