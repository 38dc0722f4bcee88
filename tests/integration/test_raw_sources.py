"""With auth on, the raw-topic bridge applies the producer policy of each CloudEvent's source.

A real ingest service (TLS, token auth, a policy and a sources file) and a real
broker; a plain Kafka producer writes CloudEvents to `vinculo.raw.v1` as another
tool would. Allowed events are forwarded; the others are dead-lettered unchanged
with their reason, and neither the reason nor the log carries the owner's id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from tests.harness import read_topic, wait_until
from tests.security_files import SecureServiceProcess, SecurityFiles, make_security_files
from vinculo.topics import DEAD_LETTER_TOPIC, INTERACTIONS_TOPIC, RAW_TOPIC
from vinculo.v1 import events_pb2 as pb
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

CE_HEADERS = [("content-type", b"application/cloudevents+json")]
HIDDEN_OWNER = "zoe-private-7"  # an owner the source may not publish for


def cloudevent(event_id: str, source: str, owner: str) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": source,
            "type": "vinculo.interaction.v1",
            "data": {
                "owner_id": owner,
                "contact_id": "bob",
                "type": "message",
                "direction": "outbound",
                "occurred_at": "2024-05-01T09:30:00Z",
            },
        }
    ).encode()


@pytest.fixture
def files(tmp_path: Path) -> SecurityFiles:
    return make_security_files(tmp_path / "pki")


@pytest.fixture
def ingest(
    broker: EmbeddedBroker, files: SecurityFiles, tmp_path: Path
) -> Iterator[SecureServiceProcess]:
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps({"sources": {"crm-sync": "importer-ana"}}))
    service = SecureServiceProcess(
        "ingest_service",
        tmp_path / "ingest",
        broker.bootstrap,
        extra_args=[*files.server_flags(mutual=False), "--raw-sources-file", str(sources)],
        security=files.client(),
    )
    try:
        yield service.start()
    finally:
        service.stop()


def test_bridged_events_need_a_source_allowed_to_publish_for_the_owner(
    broker: EmbeddedBroker, ingest: SecureServiceProcess
) -> None:
    wait_until(lambda: ingest.metric("vinculo_ingest_raw_bridge_up") == 1.0, what="bridge up")
    sent = {
        "ok": cloudevent("ce-ok", "crm-sync", "ana"),
        "denied": cloudevent("ce-denied", "crm-sync", HIDDEN_OWNER),
        "unknown": cloudevent("ce-unknown", "someone-else", "ana"),
    }
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    try:
        for value in sent.values():
            producer.send(RAW_TOPIC, value, b"k", CE_HEADERS)
        producer.flush(timeout=10)
    finally:
        producer.close()

    forwarded = read_topic(broker.bootstrap, INTERACTIONS_TOPIC, 2)
    events = sorted(pb.InteractionEvent.FromString(r.value).event_id for r in forwarded)
    assert events == ["ce-ok", "~ana/ce-ok"]  # the allowed event and its mirrored copy
    dead = read_topic(broker.bootstrap, DEAD_LETTER_TOPIC, 2)
    reasons = {r.value: dict(r.headers) for r in dead}
    assert reasons[sent["denied"]]["vinculo-reason-code"] == b"permission_denied"
    assert reasons[sent["unknown"]]["vinculo-reason-code"] == b"unknown_source"
    for headers in reasons.values():
        assert HIDDEN_OWNER.encode() not in headers["vinculo-reason"]
    wait_until(
        lambda: ingest.metric("vinculo_ingest_raw_dead_lettered_total") == 2.0,
        what="two dead letters counted",
    )
    assert ingest.metric("vinculo_ingest_raw_dead_lettered_total", reason="permission_denied") == 1
    assert ingest.metric("vinculo_ingest_raw_forwarded_total") == 1
    assert HIDDEN_OWNER not in ingest.log_text()
    # Nothing published for the hidden owner, not even a mirrored copy.
    assert all(r.key != HIDDEN_OWNER.encode() for r in forwarded)
