"""Every rejection and dead-letter reason code known in advance, to create metric series at 0.

A labelled counter has no series until its first increment, so an alert summing
reasons answers nothing while records are being rejected. The services' metrics
create one series per code listed here at start. tests/unit/test_reasons.py
fails when a literal Rejection call with a string code appears that is not listed.
"""

from __future__ import annotations

_ID_FIELDS = ("event_id", "owner_id", "contact_id", "in_reply_to")

# vinculo.validation: what ingest answers REJECTED and consumers dead-letter.
EVENT_REJECTION_CODES: tuple[str, ...] = (
    *(f"missing_{name}" for name in _ID_FIELDS),
    "id_too_long",
    "bad_id",
    "reserved_event_id",
    "missing_type",
    "unknown_type",
    "missing_direction",
    "unknown_direction",
    "unknown_feedback_label",
    "missing_feedback_label",
    "unexpected_feedback_label",
    "missing_occurred_at",
    "future_time",
    "ancient_time",
    "channel_too_long",
    *(f"bad_{name}" for name in ("contact_name", "contact_company", "contact_position")),
    "duration_too_long",
    "audience_too_large",
    "reply_to_self",
    "self_relationship",
    "batch_too_large",  # ingest_service.servicer: a StreamEvents message over the limit
)

# scoring_service.processor: a record on the interaction topic that is no event.
SCORING_RECORD_CODES: tuple[str, ...] = ("empty_value", "undecodable", "key_mismatch")

# vinculo.cloudevents: a raw-topic record that is no CloudEvent (record field codes,
# bad_<field> / unknown_<field> from vinculo.records, appear on their first use).
CLOUDEVENT_CODES: tuple[str, ...] = (
    *(f"missing_ce_{name}" for name in ("specversion", "id", "source", "type")),
    "not_cloudevent",
    "unsupported_specversion",
    "empty_value",
    "bad_json",
    "bad_data",
    "bad_datacontenttype",
    "bad_envelope",
    "missing_data",
    "bad_occurred_at",
)

# ingest_service.raw_sources: with auth on, a CloudEvent source's producer identity.
RAW_SOURCE_CODES: tuple[str, ...] = ("unknown_source", "permission_denied")

SCORING_DEAD_LETTER_CODES = (*EVENT_REJECTION_CODES, *SCORING_RECORD_CODES)
RAW_DEAD_LETTER_CODES = tuple(
    dict.fromkeys((*EVENT_REJECTION_CODES, *CLOUDEVENT_CODES, *RAW_SOURCE_CODES))
)
