"""Validation of interaction events: one set of rules for every way in.

The ingest API rejects an invalid event with a reason naming the field, the
raw-topic bridge dead-letters it with the same reason, and the scoring service
re-checks every record it consumes (a producer other than Vinculo may have
written it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vinculo.domain import Interaction, has_mirror, mirror_direction
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

# Built once: `.values()` makes a new list per call, and these run per consumed record.
_TYPES = frozenset(pb.InteractionType.values())
_DIRECTIONS = frozenset(pb.Direction.values())
_FEEDBACK_LABELS = frozenset(pb.FeedbackLabel.values())
_SPECIFIED_TYPES = _TYPES - {pb.INTERACTION_TYPE_UNSPECIFIED}
_SPECIFIED_DIRECTIONS = _DIRECTIONS - {pb.DIRECTION_UNSPECIFIED}
_NO_LABEL = pb.FEEDBACK_LABEL_UNSPECIFIED
_CONTROL = re.compile(r"[\x00-\x1f]")


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
    if value != value.strip() or _CONTROL.search(value) is not None:
        return Rejection("bad_id", f"{name}: must not contain control or surrounding whitespace")
    return None


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
    t = event_time(event)
    if t > now + MAX_FUTURE_SECONDS:
        return Rejection("future_time", "occurred_at: more than a day in the future")
    if t < MIN_TIME_SECONDS:
        return Rejection("ancient_time", "occurred_at: before 1990, likely a unit mistake")
    return t


def _check_attributes(event: pb.InteractionEvent) -> Rejection | None:
    if len(event.channel) > MAX_CHANNEL_LENGTH:
        return Rejection("channel_too_long", f"channel: at most {MAX_CHANNEL_LENGTH} characters")
    if event.duration_seconds > MAX_DURATION_SECONDS:
        return Rejection("duration_too_long", "duration_seconds: more than 7 days")
    if event.audience_size > MAX_AUDIENCE:
        return Rejection("audience_too_large", f"audience_size: at most {MAX_AUDIENCE}")
    for name in ("contact_name", "contact_company", "contact_position"):
        if len(getattr(event, name)) > MAX_PROFILE_LENGTH:
            return Rejection(f"{name}_too_long", f"{name}: at most {MAX_PROFILE_LENGTH} characters")
    answered = event.in_reply_to
    if not answered:
        return None
    if answered == event.event_id:
        return Rejection("reply_to_self", "in_reply_to: must not name the event itself")
    return _check_id(answered, "in_reply_to")


def validate_event(event: pb.InteractionEvent, now: float) -> Rejection | None:
    """None when the event is valid; else the first problem found."""
    checked = checked_time(event, now)
    return checked if isinstance(checked, Rejection) else None


def checked_time(event: pb.InteractionEvent, now: float) -> float | Rejection:
    """The event's time (unix seconds) when it is valid; else the first problem found.

    For callers that need the time anyway: reading it costs as much as a check.
    """
    owner, contact = event.owner_id, event.contact_id
    problem = (
        _check_id(event.event_id, "event_id")
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

    Feedback is the owner's private judgement and is never mirrored.
    """
    if not has_mirror(event):
        return None
    copy = pb.InteractionEvent()
    copy.CopyFrom(event)
    copy.owner_id, copy.contact_id = event.contact_id, event.owner_id
    copy.direction = mirror_direction(event.direction)  # type: ignore[assignment]
    # The name, company and position describe the original contact, not the owner.
    for name in ("contact_name", "contact_company", "contact_position"):
        copy.ClearField(name)
    return copy
