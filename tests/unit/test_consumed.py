"""scoring_service.consumed reads each field once and checks the usual case itself: for any
record it must answer what `checked_time` and the key check answer (the same rejection,
or the same time), with the event's own field values (hypothesis over whole events)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scoring_service.consumed import checked_all
from tests.unit.scoring_fakes import Record
from vinculo.v1 import events_pb2 as pb
from vinculo.validation import Rejection, checked_time

NOW = 1_760_000_000.0
TEXT = st.sampled_from(["", "a", "ana", "bo", "x-9", " a", "a ", "é", "\x00", "~bo/x-9", "ana/"])
IDS = TEXT | st.text(max_size=6)
ENUM = st.integers(min_value=-1, max_value=12)


@st.composite
def events(draw: st.DrawFn) -> pb.InteractionEvent:
    event = pb.InteractionEvent(
        event_id=draw(IDS),
        owner_id=draw(IDS),
        contact_id=draw(IDS),
        type=draw(ENUM),  # type: ignore[arg-type]
        direction=draw(st.integers(min_value=-1, max_value=4)),  # type: ignore[arg-type]
        channel=draw(TEXT | st.just("c" * 65)),
        personalized=draw(st.booleans()),
        in_reply_to=draw(IDS | st.just("r" * 257)),
        duration_seconds=draw(st.sampled_from([0, 60, 7 * 86_400, 7 * 86_400 + 1])),
        audience_size=draw(st.sampled_from([0, 1, 100_000_000, 100_000_001])),
        feedback_label=draw(st.integers(min_value=-1, max_value=5)),  # type: ignore[arg-type]
        contact_name=draw(TEXT | st.just("n" * 201)),
        contact_company=draw(TEXT),
        contact_position=draw(TEXT),
    )
    if draw(st.booleans()):
        event.occurred_at.seconds = draw(
            st.sampled_from([0, 631_151_999, 631_152_000, int(NOW), int(NOW) + 86_400, 2**40])
            | st.integers(min_value=-(2**62), max_value=2**62)
        )
        event.occurred_at.nanos = draw(
            st.sampled_from([0, 1, 999_999_999, 10**9, -1]) | st.integers(-(2**31), 2**31 - 1)
        )
    return event


def reference(record: Record) -> tuple[object, ...] | Rejection:
    """What the processor answered before: decode, checked_time, then the key."""
    event = pb.InteractionEvent.FromString(record.value or b"")
    t = checked_time(event, NOW)
    if isinstance(t, Rejection):
        return t
    key = record.key.decode("utf-8", errors="replace") if record.key is not None else None
    if key != event.owner_id:
        return Rejection("key_mismatch", f"key: {key!r} does not equal owner_id {event.owner_id!r}")
    return (event.owner_id, event.contact_id, event.event_id, t, event.type, event.direction,
            event.personalized, event.duration_seconds, event.audience_size,
            event.feedback_label, event.in_reply_to, event.contact_name, event.contact_company,
            event.contact_position)  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(events(), st.sampled_from(["owner", "other", "none", "bad utf-8"]))
def test_answers_what_checked_time_and_the_key_check_answer(
    event: pb.InteractionEvent, keyed: str
) -> None:
    key = {
        "owner": event.owner_id.encode(),
        "other": b"someone",
        "none": None,
        "bad utf-8": b"\xff" + event.owner_id.encode(),
    }[keyed]
    record = Record(0, 0, key, event.SerializeToString())
    if not record.value:
        return  # an empty value: the next test
    assert checked_all([record], NOW) == [reference(record)]


def test_empty_and_undecodable_values_are_named() -> None:
    empty, garbage = Record(0, 0, b"a", b""), Record(0, 1, b"a", b"\xff\xff\xff")
    found = checked_all([empty, garbage], NOW)
    assert [r.code for r in found if isinstance(r, Rejection)] == ["empty_value", "undecodable"]


def test_a_usual_event_is_taken_by_the_shortcut_with_its_fields() -> None:
    event = pb.InteractionEvent(
        event_id="x-9", owner_id="ana", contact_id="bo", type=pb.INTERACTION_TYPE_REPLY,
        direction=pb.DIRECTION_INBOUND, channel="email", in_reply_to="x-8", contact_name="Bo",
    )  # fmt: skip
    event.occurred_at.FromSeconds(int(NOW) - 60)
    [fields] = checked_all([Record(0, 0, b"ana", event.SerializeToString())], NOW)
    assert fields == ("ana", "bo", "x-9", NOW - 60, pb.INTERACTION_TYPE_REPLY,
                      pb.DIRECTION_INBOUND, False, 0, 0, 0, "x-8", "Bo", "", "")  # fmt: skip
