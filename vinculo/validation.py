"""Validation of interaction events: one set of rules for every way in.

The ingest API rejects an invalid event with a reason naming the field, the
raw-topic bridge dead-letters it with the same reason, and the scoring service
re-checks every record it consumes (a producer other than Vinculo may have
written it).
"""

from __future__ import annotations

from dataclasses import dataclass

from vinculo.domain import Interaction, has_mirror, mirror_direction
from vinculo.identifiers import (
    MIRROR_MARK,
    forbidden_character,
    is_mirror_id,
    is_nfc,
    mirror_event_id,
    nfc,
    original_event_id,
)
from vinculo.profile_text import PROFILE_FIELDS, tidy
from vinculo.profile_text import forbidden_character as profile_forbidden
from vinculo.timestamps import seconds_of
from vinculo.v1 import events_pb2 as pb

MAX_ID_LENGTH = 256
MAX_CHANNEL_LENGTH = 64
MAX_PROFILE_LENGTH = 200  # contact_name, contact_company, contact_position
# Clocks drift and time zones get mislabelled; a day covers both, a year does not.
MAX_FUTURE_SECONDS = 86_400.0
# Before 1990 there was no e-mail to speak of; earlier times are unit mistakes.
MIN_TIME_SECONDS = 631_152_000.0
MAX_DURATION_SECONDS = 7 * 86_400
MAX_AUDIENCE = 100_000_000
# google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799
NANOS_PER_SECOND = 1_000_000_000

# Built once: `.values()` makes a new list per call, and these run per consumed record.
_TYPES = frozenset(pb.InteractionType.values())
_DIRECTIONS = frozenset(pb.Direction.values())
_FEEDBACK_LABELS = frozenset(pb.FeedbackLabel.values())
_SPECIFIED_TYPES = _TYPES - {pb.INTERACTION_TYPE_UNSPECIFIED}
_SPECIFIED_DIRECTIONS = _DIRECTIONS - {pb.DIRECTION_UNSPECIFIED}
_NO_LABEL = pb.FEEDBACK_LABEL_UNSPECIFIED
_NORMALISED_FIELDS = ("event_id", "owner_id", "contact_id", "in_reply_to", "channel")


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an event is invalid: a stable code and a message naming the field."""

    code: str
    message: str


def _check_id(value: str, name: str) -> Rejection | None:
    if not value:
        return Rejection(f"missing_{name}", f"{name}: required")
    if len(value) > MAX_ID_LENGTH:
        return Rejection(
            "id_too_long", f"{name}: {len(value)} characters, at most {MAX_ID_LENGTH} allowed"
        )
    problem = _check_text(value, name, "bad_id")
    if problem is None and value != value.strip():
        return Rejection("bad_id", f"{name}: must not begin or end with whitespace")
    return problem


def _check_text(value: str, name: str, code: str) -> Rejection | None:
    """The characters rule of vinculo.identifiers, for ids and the channel."""
    if value.isprintable() and is_nfc(value):
        return None  # the usual case: one C-level pass each
    bad = forbidden_character(value)
    if bad is not None:
        return Rejection(
            code,
            f"{name}: contains {bad}; control, format (bidi, zero-width) and line or"
            " paragraph separator characters are not allowed",
        )
    if not is_nfc(value):
        return Rejection(code, f"{name}: not in Unicode normalisation form C")
    return None


def usual_ids(owner: str, contact: str, event_id: str, own: bool) -> bool:
    """The usual case of `_check_event_id` and both `_check_id`s in a few C-level calls:
    printable ASCII ids (NFC, and whitespace only as a space) within the length limit,
    no space at either end, the event id an own one or a copy's of the contact's own.
    False sends the event through the checks that name what is wrong."""
    original = event_id
    if event_id.startswith(MIRROR_MARK):
        cut = len(contact) + 2  # "~CONTACT/" is the copy's prefix
        if own or not event_id.startswith(contact, 1) or event_id[cut - 1 : cut] != "/":
            return False
        original = event_id[cut:]
        if original.startswith(MIRROR_MARK):
            return False
    joined = owner + contact + original
    return (
        joined.isascii()
        and joined.isprintable()
        and 0 < len(owner) <= MAX_ID_LENGTH
        and 0 < len(contact) <= MAX_ID_LENGTH
        and 0 < len(original) <= MAX_ID_LENGTH
        and " " not in (owner[0], owner[-1], contact[0], contact[-1], original[0], original[-1])
    )


def _check_event_id(event: pb.InteractionEvent, own: bool) -> Rejection | None:
    """An own event's id must not be a mirrored copy's; a copy's must be its original's."""
    event_id = event.event_id
    if not is_mirror_id(event_id):
        return _check_id(event_id, "event_id")
    original = None if own else original_event_id(event_id, event.contact_id)
    if original is None or is_mirror_id(original):
        return Rejection(
            "reserved_event_id",
            f"event_id: a leading {MIRROR_MARK!r} is reserved for mirrored copies"
            f" ({MIRROR_MARK}OWNER/EVENT_ID)",
        )
    return _check_id(original, "event_id")


def _check_enums(event: pb.InteractionEvent) -> Rejection | None:
    kind, direction, label = event.type, event.direction, event.feedback_label
    known = kind in _SPECIFIED_TYPES and direction in _SPECIFIED_DIRECTIONS
    is_feedback = kind == pb.INTERACTION_TYPE_FEEDBACK
    if known and label in _FEEDBACK_LABELS and is_feedback == (label != _NO_LABEL):
        return None  # the usual case, checked first: every record runs this
    if kind == pb.INTERACTION_TYPE_UNSPECIFIED:
        return Rejection("missing_type", "type: required")
    if kind not in _TYPES:
        return Rejection("unknown_type", f"type: unknown value {kind}")
    if direction == pb.DIRECTION_UNSPECIFIED:
        return Rejection("missing_direction", "direction: required")
    if direction not in _DIRECTIONS:
        return Rejection("unknown_direction", f"direction: unknown value {direction}")
    if label not in _FEEDBACK_LABELS:
        return Rejection("unknown_feedback_label", f"feedback_label: unknown value {label}")
    if is_feedback:
        return Rejection("missing_feedback_label", "feedback_label: required for feedback events")
    return Rejection("unexpected_feedback_label", "feedback_label: only for feedback events")


def _checked_time(event: pb.InteractionEvent, now: float) -> float | Rejection:
    if not event.HasField("occurred_at"):
        return Rejection("missing_occurred_at", "occurred_at: required")
    stamp = event.occurred_at
    seconds, nanos = stamp.seconds, stamp.nanos
    if not 0 <= nanos < NANOS_PER_SECOND:
        return Rejection("bad_occurred_at", f"occurred_at.nanos: {nanos} not in [0, 999999999]")
    if not MIN_TIMESTAMP_SECONDS <= seconds <= MAX_TIMESTAMP_SECONDS:
        return Rejection(
            "bad_occurred_at",
            f"occurred_at.seconds: {seconds} outside years 0001 to 9999",
        )
    # seconds_of's arithmetic (so the same float), without its range check: done above.
    t: float = (seconds * NANOS_PER_SECOND + nanos) / NANOS_PER_SECOND
    if t > now + MAX_FUTURE_SECONDS:
        return Rejection("future_time", "occurred_at: more than a day in the future")
    if t < MIN_TIME_SECONDS:
        return Rejection("ancient_time", "occurred_at: before 1990, likely a unit mistake")
    return t


def _check_attributes(event: pb.InteractionEvent) -> Rejection | None:
    if len(event.channel) > MAX_CHANNEL_LENGTH:
        return Rejection("channel_too_long", f"channel: at most {MAX_CHANNEL_LENGTH} characters")
    if event.channel:
        problem = _check_text(event.channel, "channel", "bad_channel")
        if problem:
            return problem
    if event.duration_seconds > MAX_DURATION_SECONDS:
        return Rejection("duration_too_long", "duration_seconds: more than 7 days")
    if event.audience_size > MAX_AUDIENCE:
        return Rejection("audience_too_large", f"audience_size: at most {MAX_AUDIENCE}")
    longest = max(len(event.contact_name), len(event.contact_company), len(event.contact_position))
    if longest > MAX_PROFILE_LENGTH:
        for name in ("contact_name", "contact_company", "contact_position"):
            if len(getattr(event, name)) > MAX_PROFILE_LENGTH:
                return Rejection(
                    f"{name}_too_long", f"{name}: at most {MAX_PROFILE_LENGTH} characters"
                )
    answered = event.in_reply_to
    if not answered:
        return None
    if answered == event.event_id:
        return Rejection("reply_to_self", "in_reply_to: must not name the event itself")
    return _check_id(answered, "in_reply_to")


def normalise(event: pb.InteractionEvent) -> None:
    """Put ids and the channel in Unicode normalisation form C, in place (before validating).

    The profile text too, with line breaks and tabs as spaces (vinculo.profile_text).
    """
    for name in _NORMALISED_FIELDS:
        value = getattr(event, name)
        if not value.isascii():
            setattr(event, name, nfc(value))
    for name in PROFILE_FIELDS:
        value = getattr(event, name)
        if value:
            setattr(event, name, tidy(value))


def _check_profile(event: pb.InteractionEvent) -> Rejection | None:
    """Profile text must not hold control or bidi override characters (vinculo.profile_text)."""
    for name in PROFILE_FIELDS:
        value = getattr(event, name)
        if value and not value.isprintable():
            bad = profile_forbidden(value)
            if bad is not None:
                return Rejection(
                    f"bad_{name}",
                    f"{name}: contains {bad}; control characters are not allowed",
                )
    return None


def validate_event(event: pb.InteractionEvent, now: float) -> Rejection | None:
    """None when an event a producer sends is valid; else the first problem found.

    A producer's own event id must not take the mirrored copies' form, and its
    profile text must be fit to show. Neither is checked again on consumption:
    records written before these rules stay readable (checked_time).
    """
    checked = checked_time(event, now, own=True)
    return checked if isinstance(checked, Rejection) else _check_profile(event)


def checked_time(event: pb.InteractionEvent, now: float, own: bool = False) -> float | Rejection:
    """The event's time (unix seconds) when it is valid; else the first problem found.

    For callers that need the time anyway: reading it costs as much as a check.
    Without `own` (a record on the interaction topic) the event may be a mirrored copy.
    """
    owner, contact = event.owner_id, event.contact_id
    problem = None
    if not usual_ids(owner, contact, event.event_id, own):
        problem = (
            _check_event_id(event, own)
            or _check_id(owner, "owner_id")
            or _check_id(contact, "contact_id")
        )
    if problem:
        return problem
    if owner == contact:
        return Rejection("self_relationship", "contact_id: must not equal owner_id")
    problem = _check_enums(event)
    if problem:
        return problem
    t = _checked_time(event, now)
    return t if isinstance(t, Rejection) else _check_attributes(event) or t


def event_time(event: pb.InteractionEvent) -> float:
    return seconds_of(event.occurred_at)


def to_interaction(event: pb.InteractionEvent, reply_to_time: float | None = None) -> Interaction:
    """The state-relevant part of a validated event."""
    return Interaction(
        type=event.type,
        direction=event.direction,
        time=event_time(event),
        personalized=event.personalized,
        duration_seconds=float(event.duration_seconds),
        audience_size=event.audience_size,
        feedback_label=event.feedback_label,
        reply_to_time=reply_to_time,
    )


def mirrored(event: pb.InteractionEvent) -> pb.InteractionEvent | None:
    """The same event in the contact's network, or None when only the owner is tracked.

    Feedback is the owner's private judgement and is never mirrored. The copy's
    id is `~OWNER/EVENT_ID` (vinculo.identifiers): it cannot collide with an id
    of the contact's own. `in_reply_to` is kept: the scoring service looks it up
    among the receiving owner's own events, then among the sender's copies.
    """
    if not has_mirror(event):
        return None
    copy = pb.InteractionEvent()
    copy.CopyFrom(event)
    _turn_into_mirror(copy)
    return copy


def mirrored_bytes(event: pb.InteractionEvent) -> bytes | None:
    """`mirrored(event)` serialized, made by turning `event` into its copy for one
    serialization and back: no second message, no CopyFrom (40% less CPU, measured in
    the ingest service, which publishes it for every event)."""
    if not has_mirror(event):
        return None
    owner, contact, event_id, direction = (
        event.owner_id, event.contact_id, event.event_id, event.direction,
    )  # fmt: skip
    profile = [(name, getattr(event, name)) for name in PROFILE_FIELDS if getattr(event, name)]
    try:
        _turn_into_mirror(event)
        copy: bytes = event.SerializeToString()
        return copy
    finally:
        event.owner_id, event.contact_id, event.event_id = owner, contact, event_id
        event.direction = direction
        for name, value in profile:
            setattr(event, name, value)


def _turn_into_mirror(event: pb.InteractionEvent) -> None:
    owner = event.owner_id
    event.owner_id, event.contact_id = event.contact_id, owner
    event.event_id = mirror_event_id(owner, event.event_id)
    event.direction = mirror_direction(event.direction)  # type: ignore[assignment]
    # The name, company and position describe the original contact, not the owner.
    for name in PROFILE_FIELDS:
        event.ClearField(name)


def original(copy: pb.InteractionEvent) -> pb.InteractionEvent | None:
    """The event a mirrored copy was made from; None when `copy` is not a mirrored copy."""
    event_id = original_event_id(copy.event_id, copy.contact_id)
    if event_id is None:
        return None
    event = pb.InteractionEvent()
    event.CopyFrom(copy)
    event.owner_id, event.contact_id = copy.contact_id, copy.owner_id
    event.event_id = event_id
    event.direction = mirror_direction(copy.direction)  # type: ignore[assignment]
    return event
