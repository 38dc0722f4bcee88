"""The ingest service's records of an event: the event's bytes and its mirrored copy's, the
copy exactly `vinculo.validation.mirrored`'s though made without a second message."""

from __future__ import annotations

import pytest

from ingest_service.servicer import records_for
from tests.unit.test_validation import valid_event
from vinculo.v1 import events_pb2 as pb
from vinculo.validation import mirrored

PROFILE = {"contact_name": "Ana Lima", "contact_company": "Acme", "contact_position": "CTO"}


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"direction": pb.DIRECTION_INBOUND},
        {"direction": pb.DIRECTION_MUTUAL, "in_reply_to": "e0", "channel": "email"},
        PROFILE,
        {"contact_company": "Acme", "personalized": True, "duration_seconds": 90},
        {"owner_id": "josé", "contact_id": "Zoë", "event_id": "e-ü"},
    ],
)
def test_the_copy_is_mirroreds_and_the_event_is_left_as_it_was(changes: dict[str, object]) -> None:
    event = valid_event(**changes)
    before = event.SerializeToString()
    copy = mirrored(event)
    assert copy is not None
    records = records_for(event)
    assert [(r.key, r.value) for r in records] == [
        (event.owner_id, before),
        (event.contact_id, copy.SerializeToString()),
    ]
    assert event.SerializeToString() == before


@pytest.mark.parametrize(
    "changes",
    [{"owner_only": True}, {"type": pb.INTERACTION_TYPE_FEEDBACK, "feedback_label": 1}],
)
def test_an_event_only_its_owner_tracks_is_one_record(changes: dict[str, object]) -> None:
    event = valid_event(**changes)
    assert mirrored(event) is None
    assert [(r.key, r.value) for r in records_for(event)] == [
        (event.owner_id, event.SerializeToString())
    ]


def test_fields_this_version_does_not_know_are_not_passed_on() -> None:
    event = valid_event(**PROFILE)
    known = event.SerializeToString()
    unknown = pb.InteractionEvent.FromString(known + b"\xf8\x07\x01")  # field 127, varint 1
    records = records_for(unknown)
    assert records[0].value == known
    copy = mirrored(valid_event(**PROFILE))
    assert copy is not None and records[1].value == copy.SerializeToString()
