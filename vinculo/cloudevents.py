"""CloudEvents on the raw topic: a Kafka record from another tool into an `InteractionEvent`.

Two modes of the CloudEvents Kafka protocol binding (1.0) are accepted:

- structured: header `content-type: application/cloudevents+json`; the value is
  the whole event as JSON, the interaction in its `data` (or `data_base64`);
- binary: attributes in `ce_*` headers (`ce_specversion`, `ce_id`, `ce_type`,
  `ce_source`, optional `ce_time`); the value is the interaction as JSON.

The interaction uses the field names of the project's JSON-lines format
(vinculo_apps.importers.files): `owner_id`, `contact_id`, `type` ("message"),
`direction` ("outbound"), `occurred_at` (RFC 3339)... When the data carries no
`event_id` the CloudEvent `id` is used, and no `occurred_at` the `time`.

Decoding never raises on bad input: the answer is the event or a `Rejection`
naming what is wrong, which the raw bridge puts in the dead letter's headers.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from vinculo.records import RecordError, event_from_record
from vinculo.v1 import events_pb2 as pb
from vinculo.validation import Rejection

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
SPEC_VERSION = "1.0"
REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type")
Headers = Sequence[tuple[str, bytes | None]]


def _header(headers: Headers, name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return (value or b"").decode("utf-8", errors="replace")
    return None


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type in ("", "application/json", "text/json") or media_type.endswith("+json")


def decode_record(value: bytes | None, headers: Headers) -> pb.InteractionEvent | Rejection:
    """The interaction carried by one raw-topic record, or why there is none."""
    content_type = _media_type(_header(headers, "content-type"))
    if content_type == STRUCTURED_CONTENT_TYPE:
        return _structured(value)
    if _header(headers, "ce_specversion") is not None:
        return _binary(value, headers, content_type)
    return Rejection(
        "not_cloudevent",
        "record: neither structured (content-type application/cloudevents+json) "
        "nor binary (ce_specversion header) CloudEvent",
    )


def _parse_json(value: bytes | None, what: str) -> Any | Rejection:
    if not value:
        return Rejection("empty_value", f"{what}: empty record value")
    try:
        return json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Rejection("bad_json", f"{what}: not JSON ({exc})")


def _check_attributes(attributes: dict[str, Any]) -> Rejection | None:
    for name in REQUIRED_ATTRIBUTES:
        if not isinstance(attributes.get(name), str) or not attributes[name]:
            return Rejection(f"missing_ce_{name}", f"{name}: required CloudEvents attribute")
    if attributes["specversion"] != SPEC_VERSION:
        return Rejection(
            "unsupported_specversion",
            f"specversion: {attributes['specversion']!r} not supported, expected {SPEC_VERSION}",
        )
    return None


def _structured(value: bytes | None) -> pb.InteractionEvent | Rejection:
    envelope = _parse_json(value, "value")
    if isinstance(envelope, Rejection):
        return envelope
    if not isinstance(envelope, dict):
        return Rejection("bad_envelope", "value: a structured CloudEvent must be a JSON object")
    problem = _check_attributes(envelope)
    if problem:
        return problem
    if not _is_json(_media_type(envelope.get("datacontenttype"))):
        return Rejection("bad_datacontenttype", "datacontenttype: data must be JSON")
    if "data" in envelope:
        data = envelope["data"]
    elif "data_base64" in envelope:
        try:
            data = _parse_json(base64.b64decode(envelope["data_base64"], validate=True), "data")
        except (binascii.Error, TypeError, ValueError):
            return Rejection("bad_data_base64", "data_base64: not base64")
        if isinstance(data, Rejection):
            return data
    else:
        return Rejection("missing_data", "data: the interaction is required")
    return _interaction(data, envelope)


def _binary(
    value: bytes | None, headers: Headers, content_type: str
) -> pb.InteractionEvent | Rejection:
    attributes = {name: _header(headers, f"ce_{name}") for name in (*REQUIRED_ATTRIBUTES, "time")}
    problem = _check_attributes(attributes)
    if problem:
        return problem
    if not _is_json(content_type):
        return Rejection("bad_datacontenttype", f"content-type: {content_type!r} is not JSON")
    data = _parse_json(value, "value")
    if isinstance(data, Rejection):
        return data
    return _interaction(data, attributes)


def _interaction(data: Any, attributes: dict[str, Any]) -> pb.InteractionEvent | Rejection:
    if not isinstance(data, dict):
        return Rejection("bad_data", "data: must be a JSON object holding the interaction")
    record = dict(data)
    if not record.get("event_id"):
        record["event_id"] = attributes["id"]
    if not record.get("occurred_at") and attributes.get("time"):
        record["occurred_at"] = attributes["time"]
    try:
        return event_from_record(record)
    except RecordError as exc:
        return Rejection(exc.code, exc.message)
