"""Property-based tests (hypothesis) of decoding and validation over the whole event message.

Any bytes, any field values: decoding answers a message or an `Undecodable`,
never an exception; validation answers a time or a Rejection naming a field,
never an exception; what it accepts keeps the documented rules, survives the
record mapping (export, import) and its mirrored copy is valid too.
"""

from __future__ import annotations

import math
import unicodedata

from google.protobuf.unknown_fields import UnknownFieldSet  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vinculo.grpc_guards import Undecodable, _guarded
from vinculo.identifiers import forbidden_character, is_mirror_id
from vinculo.records import event_from_record, event_to_record
from vinculo.v1 import events_pb2 as pb
from vinculo.v1 import ingest_pb2
from vinculo.validation import (
    MAX_FUTURE_SECONDS,
    MIN_TIME_SECONDS,
    Rejection,
    checked_time,
    mirrored,
    normalise,
    original,
    validate_event,
)

NOW = 1_780_000_000.0
FIELDS = (
    "event_id", "owner_id", "contact_id", "type", "direction", "occurred_at", "channel",
    "personalized", "in_reply_to", "duration_seconds", "audience_size", "feedback_label",
    "owner_only",
)  # fmt: skip
PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text with what ids get wrong in practice: controls, bidi, zero-width, separators,
# combining marks (NFD), the mirror mark, whitespace; and anything else.
tricky = st.sampled_from(
    ["ana", "josé", "jose\u0301", "~", "/", " ", "\x00", "\x1b", "\x7f", "\x85", "\u202e",
     "\u200b", "\u2028", "\ufeff", "\u00a0", "\U0001f600", "e1"]
)  # fmt: skip
text = st.one_of(st.lists(tricky, max_size=4).map("".join), st.text(max_size=40))
plain = st.text(st.characters(codec="utf-8", categories=["L", "N"]), min_size=1, max_size=20)
int32 = st.integers(-(2**31), 2**31 - 1)
uint32 = st.integers(0, 2**32 - 1)
LABELS = [v for v in pb.FeedbackLabel.values() if v]
TYPES = [v for v in pb.InteractionType.values() if v and v != pb.INTERACTION_TYPE_FEEDBACK]


@st.composite
def plausible(draw: st.DrawFn) -> pb.InteractionEvent:
    """A valid event, mostly: names in letters and digits, known enums, a recent time."""
    feedback = draw(st.booleans()) and draw(st.booleans())
    event = pb.InteractionEvent(
        event_id=draw(plain),
        owner_id=draw(plain),
        contact_id=draw(plain),
        type=pb.INTERACTION_TYPE_FEEDBACK if feedback else draw(st.sampled_from(TYPES)),
        direction=draw(st.sampled_from([v for v in pb.Direction.values() if v])),
        feedback_label=draw(st.sampled_from(LABELS)) if feedback else 0,
        channel=draw(st.one_of(st.just(""), plain)),
        in_reply_to=draw(st.one_of(st.just(""), plain)),
        personalized=draw(st.booleans()),
        owner_only=draw(st.booleans()),
        duration_seconds=draw(st.integers(0, 7 * 86_400)),
        audience_size=draw(st.integers(0, 1000)),
    )
    event.occurred_at.seconds = draw(st.integers(int(MIN_TIME_SECONDS), int(NOW)))
    event.occurred_at.nanos = draw(st.integers(0, 999_999_999))
    return event


# Any value a field can hold on the wire, for the fields a mutation replaces.
WIRE_VALUES: dict[str, st.SearchStrategy[object]] = {
    "event_id": st.one_of(text, st.just("x" * 257)),
    "owner_id": text,
    "contact_id": text,
    "channel": text,
    "in_reply_to": text,
    "type": int32,
    "direction": int32,
    "feedback_label": int32,
    "duration_seconds": uint32,
    "audience_size": uint32,
}


@st.composite
def events(draw: st.DrawFn) -> pb.InteractionEvent:
    """A plausible event with none, one or several fields replaced by any wire value."""
    event = draw(plausible())
    for name in draw(st.lists(st.sampled_from([*WIRE_VALUES, "occurred_at"]), max_size=3)):
        if name != "occurred_at":
            setattr(event, name, draw(WIRE_VALUES[name]))
        elif draw(st.booleans()):
            event.ClearField("occurred_at")
        else:
            event.occurred_at.seconds = draw(st.integers(-(2**63), 2**63 - 1))
            event.occurred_at.nanos = draw(int32)
    return event


def _field_of(rejection: Rejection) -> str:
    return rejection.message.split(":", 1)[0].split(".", 1)[0]


@PROPERTY
@given(events())
def test_validation_answers_a_time_or_a_reason_naming_a_field(event: pb.InteractionEvent) -> None:
    normalise(event)
    checked = checked_time(event, NOW, own=True)
    if isinstance(checked, Rejection):
        assert _field_of(checked) in FIELDS, checked.message
        assert validate_event(event, NOW) == checked
        return
    assert MIN_TIME_SECONDS <= checked <= NOW + MAX_FUTURE_SECONDS
    assert 0 <= event.occurred_at.nanos < 1_000_000_000
    for name in ("event_id", "owner_id", "contact_id", "in_reply_to", "channel"):
        value = getattr(event, name)
        assert forbidden_character(value) is None
        assert unicodedata.is_normalized("NFC", value)
    assert not is_mirror_id(event.event_id) and event.owner_id != event.contact_id


@PROPERTY
@given(events())
def test_an_accepted_event_survives_the_record_mapping_and_its_copy_is_valid(
    event: pb.InteractionEvent,
) -> None:
    normalise(event)
    if isinstance(checked_time(event, NOW, own=True), Rejection):
        return
    # Records carry milliseconds (format_timestamp): compare at that precision.
    back = event_from_record(event_to_record(event))
    assert math.isclose(back.occurred_at.ToNanoseconds(), event.occurred_at.ToNanoseconds(),
                        abs_tol=1_000_000)  # fmt: skip
    back.occurred_at.CopyFrom(event.occurred_at)
    assert back == event
    copy = mirrored(event)
    if copy is None:
        return
    assert not isinstance(checked_time(copy, NOW), Rejection)  # as the scoring service checks
    assert isinstance(validate_event(copy, NOW), Rejection)  # a producer cannot send it
    assert original(copy) == event


@PROPERTY
@given(st.binary(max_size=300))
def test_decoding_any_bytes_answers_a_request_or_undecodable(data: bytes) -> None:
    decode = _guarded(ingest_pb2.PublishEventsRequest.FromString)
    assert decode is not None
    decoded = decode(data)
    if isinstance(decoded, Undecodable):
        assert "PublishEventsRequest" in decoded.message
        return
    assert isinstance(decoded, ingest_pb2.PublishEventsRequest)
    assert len(UnknownFieldSet(decoded)) == 0
    for event in decoded.events:
        assert len(UnknownFieldSet(event)) == 0
        checked_time(event, NOW)  # never raises, whatever the bytes held


@PROPERTY
@given(st.lists(events(), max_size=5), st.binary(max_size=40))
def test_a_request_with_unknown_fields_decodes_to_the_known_ones(
    batch: list[pb.InteractionEvent], noise: bytes
) -> None:
    request = ingest_pb2.PublishEventsRequest(events=batch)
    unknown = b"\xa2\x06" + bytes([len(noise)]) + noise  # field 100, length-delimited
    decode = _guarded(ingest_pb2.PublishEventsRequest.FromString)
    assert decode is not None
    assert decode(request.SerializeToString() + unknown) == request
