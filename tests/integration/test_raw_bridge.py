"""The raw-topic bridge against a real broker, fed by a real external producer (kcat).

kcat (Debian package `kcat`) writes structured and binary CloudEvents, valid and
invalid, to `vinculo.raw.v1`; the bridge must forward the valid ones (with the
mirrored copy when the contact is tracked) and dead-letter the rest with the
reason in headers, then commit the raw offsets.

Debian's kcat links librdkafka 2.0.2, which cannot parse the ApiVersions v3
answer of the embedded broker (Tansu 0.6.0): "Read underflow" on connect. A
real Kafka broker answers a too-new ApiVersions request with
UNSUPPORTED_VERSION, and librdkafka then retries with v0; the relay that
`vinculo up` also uses (`vinculo_apps.devstack.relay`) gives exactly that
answer, so the test runs a real external producer end to end.
Production brokers (Apache Kafka) need no shim.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from ingest_service.raw_bridge import GROUP_ID, RawBridge
from tests.harness import read_topic, wait_until
from vinculo.topics import DEAD_LETTER_TOPIC, INTERACTIONS_TOPIC, RAW_TOPIC, ensure_topics
from vinculo.v1 import events_pb2 as pb
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("kcat") is None, reason="needs kcat (Debian package kcat)"),
]
DATA = {
    "owner_id": "ana",
    "contact_id": "bob",
    "type": "message",
    "direction": "outbound",
    "occurred_at": "2024-05-01T09:30:00Z",
}


def kcat(bootstrap: str, value: str, headers: dict[str, str], key: str = "k") -> None:
    args = ["kcat", "-b", bootstrap, "-t", RAW_TOPIC, "-P", "-k", key, "-X", "acks=all"]
    for name, header in headers.items():
        args += ["-H", f"{name}={header}"]
    subprocess.run(args, input=value.encode(), check=True, timeout=30)


def structured(**data: Any) -> str:
    event = {"specversion": "1.0", "id": "s-1", "source": "kcat", "type": "vinculo.interaction.v1"}
    return json.dumps({**event, "data": {**DATA, **data}})


CE_JSON = {"content-type": "application/cloudevents+json"}
BINARY = {
    "ce_specversion": "1.0",
    "ce_id": "b-1",
    "ce_source": "kcat",
    "ce_type": "vinculo.interaction.v1",
    "ce_time": "2024-05-02T10:00:00Z",
    "content-type": "application/json",
}


@pytest.fixture
def bootstrap(tmp_path: Path) -> Iterator[str]:
    """Tansu behind the relay `vinculo up` uses, advertising the relay's address."""
    with EmbeddedBroker(log_path=tmp_path / "broker.log", relay=True) as broker:
        yield broker.bootstrap


@pytest.fixture
def bridge(bootstrap: str) -> Iterator[RawBridge]:
    ensure_topics(bootstrap, partitions=2)
    running = RawBridge(bootstrap)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_kcat_cloudevents_are_forwarded_or_dead_lettered(bootstrap: str, bridge: RawBridge) -> None:
    kcat(bootstrap, structured(), CE_JSON, key="ana")  # valid, mirrored: 2 records
    owner_only = {**DATA, "owner_id": "carla", "owner_only": True}
    kcat(bootstrap, json.dumps(owner_only), BINARY, key="carla")  # valid, owner only: 1
    kcat(bootstrap, structured(contact_id="ana", **{"id": "x"}), CE_JSON)  # self relationship
    kcat(bootstrap, "just text", {})  # not a CloudEvent at all

    forwarded = read_topic(bootstrap, INTERACTIONS_TOPIC, 3)
    dead = read_topic(bootstrap, DEAD_LETTER_TOPIC, 2)

    events = sorted((r.key.decode(), pb.InteractionEvent.FromString(r.value)) for r in forwarded)
    assert [(key, e.owner_id, e.contact_id, e.direction) for key, e in events] == [
        ("ana", "ana", "bob", pb.DIRECTION_OUTBOUND),
        ("bob", "bob", "ana", pb.DIRECTION_INBOUND),
        ("carla", "carla", "bob", pb.DIRECTION_OUTBOUND),
    ]
    assert {e.event_id for _, e in events} == {"s-1", "~ana/s-1", "b-1"}  # with the copy

    reasons = {dict(r.headers)["vinculo-reason-code"].decode(): dict(r.headers) for r in dead}
    assert set(reasons) == {"self_relationship", "not_cloudevent"}
    headers = reasons["self_relationship"]
    assert headers["vinculo-reason"] == b"contact_id: must not equal owner_id"
    assert headers["vinculo-source-topic"] == RAW_TOPIC.encode()
    assert int(headers["vinculo-source-offset"]) >= 0
    assert int(headers["vinculo-source-partition"]) in (0, 1)
    assert reasons["not_cloudevent"]["vinculo-source-topic"] == RAW_TOPIC.encode()
    assert {r.value for r in dead} >= {b"just text"}

    wait_until(
        lambda: bridge.counts.forwarded + bridge.counts.dead_lettered >= 4,
        timeout_s=10,
        what="the bridge to count 4 records",
    )
    assert (bridge.counts.forwarded, bridge.counts.dead_lettered) == (2, 2)
    probe = KafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP_ID, enable_auto_commit=False)
    try:  # committed() reads the group's offsets without joining it
        committed = [probe.committed(TopicPartition(RAW_TOPIC, p)) or 0 for p in (0, 1)]
    finally:
        probe.close(autocommit=False)
    assert sum(committed) == 4
