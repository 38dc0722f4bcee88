"""Every rejection rule of vinculo.validation: its code, and a message naming the field."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from vinculo.v1 import events_pb2 as pb
from vinculo.validation import MAX_ID_LENGTH, mirrored, validate_event

NOW = 1_780_000_000.0


def valid_event(**changes: object) -> pb.InteractionEvent:
    event = pb.InteractionEvent(
        event_id="e1",
        owner_id="ana",
        contact_id="bruno",
        type=pb.INTERACTION_TYPE_MESSAGE,
        direction=pb.DIRECTION_OUTBOUND,
        channel="linkedin",
        personalized=True,
        audience_size=1,
    )
    event.occurred_at.seconds = int(NOW) - 3600
    for name, value in changes.items():
        setattr(event, name, value)
    return event


def _clear(name: str) -> Callable[[pb.InteractionEvent], None]:
    return lambda event: event.ClearField(name)


def _set(**values: object) -> Callable[[pb.InteractionEvent], None]:
    def apply(event: pb.InteractionEvent) -> None:
        for name, value in values.items():
            setattr(event, name, value)

    return apply


def _future(event: pb.InteractionEvent) -> None:
    event.occurred_at.seconds = int(NOW) + 2 * 86_400


def _ancient(event: pb.InteractionEvent) -> None:
    event.occurred_at.seconds = 1_000  # seconds where milliseconds were meant, or similar


CASES: list[tuple[str, Callable[[pb.InteractionEvent], None], str]] = [
    ("missing_event_id", _set(event_id=""), "event_id"),
    ("missing_owner_id", _set(owner_id=""), "owner_id"),
    ("missing_contact_id", _set(contact_id=""), "contact_id"),
    ("id_too_long", _set(contact_id="x" * (MAX_ID_LENGTH + 1)), "contact_id"),
    ("bad_id", _set(owner_id=" ana"), "owner_id"),
    ("bad_id", _set(event_id="e\n1"), "event_id"),
    ("self_relationship", _set(contact_id="ana"), "contact_id"),
    ("missing_type", _set(type=pb.INTERACTION_TYPE_UNSPECIFIED), "type"),
    ("unknown_type", _set(type=99), "type"),
    ("missing_direction", _set(direction=pb.DIRECTION_UNSPECIFIED), "direction"),
    ("unknown_direction", _set(direction=7), "direction"),
    ("unknown_feedback_label", _set(feedback_label=42), "feedback_label"),
    ("missing_feedback_label", _set(type=pb.INTERACTION_TYPE_FEEDBACK), "feedback_label"),
    (
        "unexpected_feedback_label",
        _set(feedback_label=pb.FEEDBACK_LABEL_CLOSE),
        "feedback_label",
    ),
    ("missing_occurred_at", _clear("occurred_at"), "occurred_at"),
    ("future_time", _future, "occurred_at"),
    ("ancient_time", _ancient, "occurred_at"),
    ("channel_too_long", _set(channel="c" * 65), "channel"),
    ("duration_too_long", _set(duration_seconds=8 * 86_400), "duration_seconds"),
    ("audience_too_large", _set(audience_size=100_000_001), "audience_size"),
    ("reply_to_self", _set(in_reply_to="e1"), "in_reply_to"),
    ("bad_id", _set(in_reply_to="e0 "), "in_reply_to"),
]


def test_a_valid_event_passes() -> None:
    assert validate_event(valid_event(), NOW) is None


def test_feedback_with_a_label_passes() -> None:
    event = valid_event(type=pb.INTERACTION_TYPE_FEEDBACK, feedback_label=pb.FEEDBACK_LABEL_CLOSE)
    assert validate_event(event, NOW) is None


def test_a_little_clock_drift_is_tolerated() -> None:
    event = valid_event()
    event.occurred_at.seconds = int(NOW) + 3600
    assert validate_event(event, NOW) is None


@pytest.mark.parametrize(("code", "change", "field"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_each_rule_rejects_with_its_code_and_names_the_field(
    code: str, change: Callable[[pb.InteractionEvent], None], field: str
) -> None:
    event = valid_event()
    change(event)
    rejection = validate_event(event, NOW)
    assert rejection is not None
    assert rejection.code == code
    assert rejection.message.startswith(f"{field}:"), rejection.message


def test_mirrored_swaps_the_people_and_the_direction() -> None:
    copy = mirrored(valid_event())
    assert copy is not None
    assert (copy.owner_id, copy.contact_id) == ("bruno", "ana")
    assert copy.direction == pb.DIRECTION_INBOUND
    assert copy.event_id == "~ana/e1"  # not an id bruno could use for his own events


def test_mutual_stays_mutual() -> None:
    copy = mirrored(valid_event(direction=pb.DIRECTION_MUTUAL))
    assert copy is not None and copy.direction == pb.DIRECTION_MUTUAL


def test_owner_only_and_feedback_are_not_mirrored() -> None:
    assert mirrored(valid_event(owner_only=True)) is None
    feedback = valid_event(
        type=pb.INTERACTION_TYPE_FEEDBACK, feedback_label=pb.FEEDBACK_LABEL_NOT_KNOWN
    )
    assert mirrored(feedback) is None
