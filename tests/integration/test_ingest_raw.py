"""The raw-topic bridge inside the real ingest service process.

A producer that is not Vinculo (kafka-python here; kcat is covered by
test_raw_bridge.py) writes structured CloudEvents to `vinculo.raw.v1`; the
ingest service, started as `python -m ingest_service` against the embedded
broker, forwards the valid one to `vinculo.interactions.v1`, dead-letters the
bad one with its reason, and its /metrics count both.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import ServiceProcess, read_topic, wait_until
from vinculo.topics import DEAD_LETTER_TOPIC, INTERACTIONS_TOPIC, RAW_TOPIC
from vinculo.v1 import events_pb2 as pb
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

CE_HEADERS = [("content-type", b"application/cloudevents+json")]


def cloudevent(event_id: str, **data: Any) -> bytes:
    interaction = {
        "owner_id": "ana",
        "contact_id": "bob",
        "type": "message",
        "direction": "outbound",
        "occurred_at": "2024-05-01T09:30:00Z",
        **data,
    }
    envelope = {
        "specversion": "1.0",
        "id": event_id,
        "source": "crm-sync",
        "type": "vinculo.interaction.v1",
        "data": interaction,
    }
    return json.dumps(envelope).encode()


def samples(service: ServiceProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample at the service's /metrics, by name and sorted labels."""
    url = f"http://127.0.0.1:{service.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def wait_for(service: ServiceProcess, name: str, value: float) -> None:
    wait_until(lambda: service.metric(name) == value, what=f"{name} == {value}")


def test_ingest_service_bridges_raw_cloudevents(
    broker: EmbeddedBroker, ingest: ServiceProcess
) -> None:
    # Connected means the topics exist and the bridge's consumer is subscribed.
    wait_for(ingest, "vinculo_ingest_raw_bridge_up", 1.0)
    before = samples(ingest)
    assert before[("vinculo_ingest_raw_forwarded_total", ())] == 0

    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    try:
        producer.send(RAW_TOPIC, cloudevent("ce-ok"), b"ana", CE_HEADERS)
        producer.send(RAW_TOPIC, cloudevent("ce-bad", type="telepathy"), b"ana", CE_HEADERS)
        producer.flush(timeout=10)
    finally:
        producer.close()

    forwarded = read_topic(broker.bootstrap, INTERACTIONS_TOPIC, 2)
    events = sorted((r.key.decode(), pb.InteractionEvent.FromString(r.value)) for r in forwarded)
    assert [(k, e.event_id, e.owner_id, e.contact_id, e.direction) for k, e in events] == [
        ("ana", "ce-ok", "ana", "bob", pb.DIRECTION_OUTBOUND),
        ("bob", "~ana/ce-ok", "bob", "ana", pb.DIRECTION_INBOUND),  # the mirrored copy
    ]

    (dead,) = read_topic(broker.bootstrap, DEAD_LETTER_TOPIC, 1)
    headers = dict(dead.headers)
    assert headers["vinculo-reason-code"] == b"unknown_type"
    assert b"type" in headers["vinculo-reason"] and b"telepathy" in headers["vinculo-reason"]
    assert headers["vinculo-source-topic"] == RAW_TOPIC.encode()
    assert dead.value == cloudevent("ce-bad", type="telepathy")  # unchanged

    wait_for(ingest, "vinculo_ingest_raw_forwarded_total", 1.0)
    after = samples(ingest)
    dead_key = ("vinculo_ingest_raw_dead_lettered_total", (("reason", "unknown_type"),))
    assert after[dead_key] == 1
    assert after[("vinculo_ingest_raw_failed_batches_total", ())] == 0
    # The bridge's records are not gRPC events: the API's counters did not move.
    assert after[("vinculo_ingest_events_received_total", ())] == 0
