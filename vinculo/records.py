"""One event as a record: the mapping between a JSON object or CSV row and an event.

One record is one `InteractionEvent` with the proto field names (docs/importing.md):

    event_id, owner_id, contact_id, type, direction, occurred_at, channel,
    personalized, in_reply_to, duration_seconds, audience_size, feedback_label,
    owner_only, contact_name, contact_company, contact_position

Enums are written as short lower-case names ("message", "outbound", "close"),
and read from a short name, the full proto name or the number. `occurred_at` is
RFC 3339 with a zone ("2024-05-01T09:30:00Z") or unix seconds. The same
mapping decodes CloudEvents `data` (vinculo.cloudevents) so every way in agrees.

It is part of the contract because every way in shares it: the file importers
(vinculo_apps.importers.files) and the ingest service's CloudEvents bridge.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from vinculo.timestamps import seconds_of, set_seconds
from vinculo.v1 import events_pb2 as pb

COLUMNS: tuple[str, ...] = (
    "event_id",
    "owner_id",
    "contact_id",
    "type",
    "direction",
    "occurred_at",
    "channel",
    "personalized",
    "in_reply_to",
    "duration_seconds",
    "audience_size",
    "feedback_label",
    "owner_only",
    "contact_name",
    "contact_company",
    "contact_position",
)
PROFILE_FIELDS: tuple[str, ...] = ("contact_name", "contact_company", "contact_position")
REQUIRED: tuple[str, ...] = ("owner_id", "contact_id", "type", "occurred_at")
_ENUMS: dict[str, tuple[Any, str]] = {
    "type": (pb.InteractionType, "INTERACTION_TYPE_"),
    "direction": (pb.Direction, "DIRECTION_"),
    "feedback_label": (pb.FeedbackLabel, "FEEDBACK_LABEL_"),
}
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


class RecordError(ValueError):
    """A record that is not an event: a stable code and a message naming the field."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _enum(field: str, value: Any) -> int:
    enum, prefix = _ENUMS[field]
    if isinstance(value, bool):
        raise RecordError(f"bad_{field}", f"{field}: expected a name or number, got {value!r}")
    if isinstance(value, int):
        return value
    name = str(value).strip().upper()
    if name.isdigit():
        return int(name)
    try:
        return int(enum.Value(name if name.startswith(prefix) else prefix + name))
    except ValueError:
        raise RecordError(f"unknown_{field}", f"{field}: unknown value {value!r}") from None


def _bool(field: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise RecordError(f"bad_{field}", f"{field}: expected true or false, got {value!r}")


def _uint(field: str, value: Any) -> int:
    try:
        number = int(str(value).strip() or 0) if not isinstance(value, int) else value
    except ValueError:
        raise RecordError(f"bad_{field}", f"{field}: expected a whole number") from None
    if number < 0 or number >= 2**32:
        raise RecordError(f"bad_{field}", f"{field}: {number} out of range")
    return number


def parse_timestamp(value: Any) -> float:
    """Unix seconds from RFC 3339 (a zone is required) or a number of seconds."""
    if isinstance(value, bool):
        raise RecordError("bad_occurred_at", "occurred_at: expected a time")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise RecordError("bad_occurred_at", f"occurred_at: not RFC 3339: {text!r}") from None
    if parsed.tzinfo is None:
        raise RecordError("bad_occurred_at", f"occurred_at: {text!r} has no time zone")
    return parsed.timestamp()


def format_timestamp(seconds: float) -> str:
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def event_from_record(record: Mapping[str, Any]) -> pb.InteractionEvent:
    """Build an event from a decoded JSON object or CSV row; RecordError names what is wrong.

    Only shape is checked here; the rules (ids, times, ranges) are
    `vinculo.validation.validate_event`'s, applied by the ingest service.
    """
    for name in REQUIRED:
        if record.get(name) in (None, ""):
            raise RecordError(f"missing_{name}", f"{name}: required")
    event = pb.InteractionEvent()
    for name in ("event_id", "owner_id", "contact_id", "channel", "in_reply_to", *PROFILE_FIELDS):
        value = record.get(name)
        if value is not None:
            if not isinstance(value, str | int):
                raise RecordError(f"bad_{name}", f"{name}: expected a string")
            setattr(event, name, str(value))
    for name in _ENUMS:
        if record.get(name) not in (None, ""):
            setattr(event, name, _enum(name, record[name]))
    for name in ("personalized", "owner_only"):
        if record.get(name) is not None:
            setattr(event, name, _bool(name, record[name]))
    for name in ("duration_seconds", "audience_size"):
        if record.get(name) is not None:
            setattr(event, name, _uint(name, record[name]))
    set_seconds(event.occurred_at, parse_timestamp(record["occurred_at"]))
    return event


def _enum_name(field: str, value: int) -> str:
    enum, prefix = _ENUMS[field]
    name: str = enum.Name(value)
    return name.removeprefix(prefix).lower()


def event_to_record(event: pb.InteractionEvent) -> dict[str, Any]:
    """The JSON object for an event; default values are left out."""
    record: dict[str, Any] = {
        "event_id": event.event_id,
        "owner_id": event.owner_id,
        "contact_id": event.contact_id,
        "type": _enum_name("type", event.type),
        "direction": _enum_name("direction", event.direction),
        "occurred_at": format_timestamp(seconds_of(event.occurred_at)),
    }
    for name in ("channel", "in_reply_to", "duration_seconds", "audience_size", *PROFILE_FIELDS):
        if getattr(event, name):
            record[name] = getattr(event, name)
    if event.feedback_label:
        record["feedback_label"] = _enum_name("feedback_label", event.feedback_label)
    for name in ("personalized", "owner_only"):
        if getattr(event, name):
            record[name] = True
    return record
