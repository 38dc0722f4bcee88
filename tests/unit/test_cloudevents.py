"""CloudEvents records from the raw topic, structured and binary, good and bad."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from vinculo.cloudevents import decode_record
from vinculo.v1 import events_pb2 as pb
from vinculo.validation import Rejection

DATA = {
    "owner_id": "ana",
    "contact_id": "bob",
    "type": "message",
    "direction": "outbound",
    "occurred_at": "2024-05-01T09:30:00Z",
    "personalized": True,
}
STRUCTURED = [("content-type", b"application/cloudevents+json; charset=utf-8")]


def envelope(**changes: Any) -> bytes:
    event = {
        "specversion": "1.0",
        "id": "ce-1",
        "source": "crm://example",
        "type": "vinculo.interaction.v1",
        "datacontenttype": "application/json",
        "data": DATA,
    }
    event.update(changes)
    return json.dumps({k: v for k, v in event.items() if v is not None}).encode()


def binary_headers(**changes: str | None) -> list[tuple[str, bytes | None]]:
    attributes: dict[str, str | None] = {
        "ce_specversion": "1.0",
        "ce_id": "ce-2",
        "ce_source": "crm://example",
        "ce_type": "vinculo.interaction.v1",
        "ce_time": "2024-05-02T10:00:00Z",
        "content-type": "application/json",
    }
    attributes.update(changes)
    return [(k, v.encode()) for k, v in attributes.items() if v is not None]


def test_structured_mode() -> None:
    event = decode_record(envelope(), STRUCTURED)
    assert isinstance(event, pb.InteractionEvent)
    assert (event.event_id, event.owner_id, event.contact_id) == ("ce-1", "ana", "bob")
    assert (event.type, event.direction, event.personalized) == (4, 1, True)
    assert event.occurred_at.seconds == 1714555800


def test_structured_mode_with_base64_data_and_own_event_id() -> None:
    data = base64.b64encode(json.dumps({**DATA, "event_id": "mine"}).encode()).decode()
    event = decode_record(envelope(data=None, data_base64=data), STRUCTURED)
    assert isinstance(event, pb.InteractionEvent) and event.event_id == "mine"


def test_binary_mode_takes_time_from_ce_time() -> None:
    data = {k: v for k, v in DATA.items() if k != "occurred_at"}
    event = decode_record(json.dumps(data).encode(), binary_headers())
    assert isinstance(event, pb.InteractionEvent)
    assert event.event_id == "ce-2"
    assert event.occurred_at.seconds == 1714644000


@pytest.mark.parametrize(
    ("value", "headers", "code"),
    [
        (json.dumps(DATA).encode(), [], "not_cloudevent"),
        (b"{not json", STRUCTURED, "bad_json"),
        (b"", STRUCTURED, "empty_value"),
        (b"[1]", STRUCTURED, "bad_envelope"),
        (envelope(specversion="0.3"), STRUCTURED, "unsupported_specversion"),
        (envelope(id=None), STRUCTURED, "missing_ce_id"),
        (envelope(data=None), STRUCTURED, "missing_data"),
        (envelope(data="text"), STRUCTURED, "bad_data"),
        (envelope(datacontenttype="text/plain"), STRUCTURED, "bad_datacontenttype"),
        (envelope(data={**DATA, "type": "hug"}), STRUCTURED, "unknown_type"),
        (envelope(data={**DATA, "contact_id": None}), STRUCTURED, "missing_contact_id"),
        (json.dumps(DATA).encode(), binary_headers(ce_source=None), "missing_ce_source"),
        (
            json.dumps(DATA).encode(),
            binary_headers(**{"content-type": "text/csv"}),
            "bad_datacontenttype",
        ),
        (b"\xff\xfe", binary_headers(), "bad_json"),
    ],
)
def test_bad_records_are_rejected_with_a_reason(
    value: bytes, headers: list[tuple[str, bytes | None]], code: str
) -> None:
    result = decode_record(value, headers)
    assert isinstance(result, Rejection), result
    assert result.code == code
    assert result.message
