"""Who publishes through the raw topic: a CloudEvent's `source` names a producer identity.

With auth on (`VINCULO_AUTH_POLICY_FILE`), the gRPC ingest API lets a producer
publish only for its owners. The raw-topic bridge applies the same policy:
`VINCULO_RAW_SOURCES_FILE` maps each CloudEvent `source` to an identity of the
policy,

    {"sources": {"crm-sync": "crm-app", "urn:tool:calendar": "importer"}}

and an event is forwarded only if that identity may publish for the event's
owner. Otherwise it goes, unchanged, to the dead-letter topic with the reason
`unknown_source` (no mapping; with auth on and no sources file, every source is
unknown) or `permission_denied`; the reasons name no owner or contact id, and
the log carries only counts per reason (the bridge's metrics).

Whoever can write the raw topic can claim any `source`: Kafka ACLs on
`vinculo.raw.v1` (per producer principal) are what makes a source trustworthy.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vinculo.v1.events_pb2 as pb
from vinculo.security.policy import PUBLISH, Policy
from vinculo.settings import SettingsError
from vinculo.validation import Rejection

log = logging.getLogger(__name__)

SOURCES_ENV = "VINCULO_RAW_SOURCES_FILE"
UNKNOWN_SOURCE = "unknown_source"
PERMISSION_DENIED = "permission_denied"


def load_sources(path: Path) -> dict[str, str]:
    """The source -> identity map of a sources file; errors name the setting and file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{SOURCES_ENV}: cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{SOURCES_ENV}: {path} is not JSON: {exc}") from exc
    sources = document.get("sources") if isinstance(document, dict) else None
    if not isinstance(sources, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in sources.items()
    ):
        raise SettingsError(
            f'{SOURCES_ENV}: {path} needs {{"sources": {{"<source>": "<identity>"}}}}'
        )
    return dict(sources)


def cloudevent_source(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> str | None:
    """The `source` attribute of a record already decoded as a CloudEvent (binary: the
    `ce_source` header; structured: the envelope's field)."""
    for name, raw in headers:
        if name.lower() == "ce_source":
            return raw.decode("utf-8", "replace")
    try:
        envelope: Any = json.loads(value or b"")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    source = envelope.get("source") if isinstance(envelope, dict) else None
    return source if isinstance(source, str) else None


@dataclass(frozen=True)
class SourceGate:
    """Checks one bridged event against the policy of its source's identity."""

    policy: Policy
    sources: dict[str, str]

    def check(
        self, value: bytes | None, headers: Sequence[tuple[str, bytes]], event: pb.InteractionEvent
    ) -> Rejection | None:
        source = cloudevent_source(value, headers)
        identity = self.sources.get(source) if source is not None else None
        if identity is None:
            return Rejection(
                UNKNOWN_SOURCE, f"source: not mapped to a producer identity ({SOURCES_ENV})"
            )
        if not self.policy.allows(identity, PUBLISH, [event.owner_id]):
            return Rejection(
                PERMISSION_DENIED,
                f"owner: producer identity {identity!r} (source {source!r}) may not publish"
                " for this owner",
            )
        return None


def source_gate(policy_file: str, sources_file: str) -> SourceGate | None:
    """The gate the bridge applies: None with auth off (every source passes)."""
    if not policy_file:
        return None
    sources = load_sources(Path(sources_file)) if sources_file else {}
    policy = Policy.load(Path(policy_file))
    unknown = sorted(
        {identity for identity in sources.values() if policy.role_of(identity) is None}
    )
    if unknown:
        raise SettingsError(f"{SOURCES_ENV}: identities not in the policy: {', '.join(unknown)}")
    if not sources:
        log.warning(
            "auth is on and %s is not set: every raw-topic event is dead-lettered (unknown_source)",
            SOURCES_ENV,
        )
    return SourceGate(policy, sources)
