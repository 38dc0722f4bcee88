"""The real ingest service against the real embedded broker, through its gRPC port."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from tests.harness import ServiceProcess
from vinculo.v1 import events_pb2 as pb
from vinculo.v1 import ingest_pb2, ingest_pb2_grpc
from vinculo_apps.client import scrape_metric
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

TOPIC = "vinculo.interactions.v1"
PARTITIONS = 8
ACCEPTED, DUPLICATE, REJECTED = (
    ingest_pb2.EVENT_STATUS_ACCEPTED,
    ingest_pb2.EVENT_STATUS_DUPLICATE,
    ingest_pb2.EVENT_STATUS_REJECTED,
)


def event(
    event_id: str, owner: str = "ana", contact: str = "bruno", **attrs: object
) -> pb.InteractionEvent:
    e = pb.InteractionEvent(
        event_id=event_id,
        owner_id=owner,
        contact_id=contact,
        type=pb.INTERACTION_TYPE_MESSAGE,
        direction=pb.DIRECTION_OUTBOUND,
        **{"channel": "linkedin", **attrs},  # type: ignore[arg-type]
    )
    e.occurred_at.seconds = int(time.time()) - 3600
    return e


def publish(
    service: ServiceProcess, events: list[pb.InteractionEvent]
) -> list[ingest_pb2.EventResult]:
    with grpc.insecure_channel(service.address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        reply = stub.PublishEvents(ingest_pb2.PublishEventsRequest(events=events), timeout=30)
    return list(reply.results)


@pytest.fixture
def consumer(broker: EmbeddedBroker) -> Iterator[KafkaConsumer]:
    # Manual assignment: a group join takes seconds on Tansu (shared/NOTES.md).
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    try:
        yield consumer
    finally:
        consumer.close()


def topic_records(consumer: KafkaConsumer, expected: int, topic: str = TOPIC) -> list[Any]:
    """The records on the topic, asserting there are exactly `expected`.

    Not from end offsets: Tansu answers ListOffsets(latest) with the last
    batch's base offset + 1, short of the real end when a batch holds several
    records. So read until `expected` arrived, then a little longer for extras.
    """
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    records: list[Any] = []
    deadline = time.monotonic() + 10
    while len(records) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=200).values():
            records.extend(batch)
    for batch in consumer.poll(timeout_ms=500).values():
        records.extend(batch)
    assert len(records) == expected
    return records


def test_accepted_events_are_on_the_topic_keyed_by_owner_with_the_mirrored_copy(
    ingest: ServiceProcess, consumer: KafkaConsumer
) -> None:
    results = publish(ingest, [event("e1"), event("e2", contact="carla", owner_only=True)])
    assert [(r.event_id, r.status) for r in results] == [("e1", ACCEPTED), ("e2", ACCEPTED)]

    records = topic_records(consumer, 3)
    decoded = [(r.key.decode(), pb.InteractionEvent.FromString(r.value)) for r in records]
    by_key = sorted(decoded, key=lambda pair: (pair[0], pair[1].event_id))
    assert [(k, e.event_id) for k, e in by_key] == [
        ("ana", "e1"),
        ("ana", "e2"),
        ("bruno", "~ana/e1"),
    ]
    mirror = by_key[2][1]
    assert (mirror.owner_id, mirror.contact_id) == ("bruno", "ana")
    assert mirror.direction == pb.DIRECTION_INBOUND
    for record in records:
        assert record.partition == (murmur2(record.key) & 0x7FFFFFFF) % PARTITIONS
        assert not record.headers  # the topic fixes the format (vinculo.topics)
    for topic in (TOPIC, f"{TOPIC}.dlq", "vinculo.raw.v1"):
        assert len(consumer.partitions_for_topic(topic)) == PARTITIONS


def test_duplicates_and_rejections_are_answered_and_not_published(
    ingest: ServiceProcess, consumer: KafkaConsumer
) -> None:
    assert [r.status for r in publish(ingest, [event("e1")])] == [ACCEPTED]
    results = publish(
        ingest,
        [
            event("e1"),
            event("e3", contact="ana"),
            event("e4"),
            event("e4"),
            event("e5", channel="x" * 65),
        ],
    )
    assert [r.status for r in results] == [DUPLICATE, REJECTED, ACCEPTED, DUPLICATE, REJECTED]
    assert (results[1].reason_code, results[1].reason) == (
        "self_relationship",
        "contact_id: must not equal owner_id",
    )
    assert results[4].reason_code == "channel_too_long" and results[4].reason.startswith("channel:")
    ids = sorted(
        pb.InteractionEvent.FromString(r.value).event_id for r in topic_records(consumer, 4)
    )
    assert ids == ["e1", "e4", "~ana/e1", "~ana/e4"]


def test_batch_limit_and_stream_summary(ingest: ServiceProcess) -> None:
    with grpc.insecure_channel(ingest.address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        too_many = [event(f"x{i}") for i in range(1001)]
        with pytest.raises(grpc.RpcError) as error:
            stub.PublishEvents(ingest_pb2.PublishEventsRequest(events=too_many), timeout=30)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.value.details().startswith("events: 1001 events")

        batches = [
            [event(f"s{i}") for i in range(1000)],
            [event("s0"), event("s1000"), event("bad", owner="")],
        ]
        requests = iter(ingest_pb2.StreamEventsRequest(events=b) for b in batches)
        summary = stub.StreamEvents(requests, timeout=60)
    assert (summary.accepted, summary.duplicates, summary.rejected) == (1001, 1, 1)
    assert [(r.event_id, r.reason_code) for r in summary.rejections] == [
        ("bad", "missing_owner_id")
    ]


def test_a_stream_message_over_the_limit_is_rejected_and_the_stream_goes_on(
    ingest: ServiceProcess,
) -> None:
    """The client learns exactly what was accepted: the earlier and later messages' events,
    and each event of the oversized one rejected with the limit named."""
    messages = [
        [event(f"a{i}") for i in range(10)],
        [event(f"big{i}") for i in range(1001)],
        [event(f"b{i}") for i in range(5)],
    ]
    with grpc.insecure_channel(ingest.address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        requests = iter(ingest_pb2.StreamEventsRequest(events=m) for m in messages)
        summary = stub.StreamEvents(requests, timeout=60)
    assert (summary.accepted, summary.duplicates, summary.rejected) == (15, 0, 1001)
    assert {r.reason_code for r in summary.rejections} == {"batch_too_large"}
    assert summary.rejections[0].event_id == "big0"
    assert summary.rejections[0].reason.startswith("events: 1001 events")
    assert ingest.metric("vinculo_ingest_events_rejected_total", reason="batch_too_large") == 1001


def test_health_reflection_and_metrics_answer(ingest: ServiceProcess) -> None:
    url = f"http://127.0.0.1:{ingest.metrics_port}/metrics"
    with grpc.insecure_channel(ingest.address) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="vinculo.v1.IngestService"), timeout=5
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([request]), timeout=5
        )
        names = {s.name for reply in replies for s in reply.list_services_response.service}
    assert {"vinculo.v1.IngestService", "grpc.health.v1.Health"} <= names

    assert scrape_metric(url, "vinculo_ingest_events_accepted_total") == 0
    publish(ingest, [event("m1"), event("m2", contact="ana")])
    assert scrape_metric(url, "vinculo_ingest_events_received_total") == 2
    assert scrape_metric(url, "vinculo_ingest_events_accepted_total") == 1
    assert scrape_metric(url, "vinculo_ingest_events_rejected_total") == 1
    assert scrape_metric(url, "vinculo_ingest_records_published_total") == 2
    assert scrape_metric(url, "vinculo_ingest_publish_duration_seconds_count") == 1
    assert scrape_metric(url, "grpc_server_started_total") >= 1


def test_broker_down_is_unavailable_and_nothing_accepted_then_back(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    service = ServiceProcess(
        "ingest_service",
        tmp_path / "ingest",
        broker.bootstrap,
        extra_args=["--ack-timeout-s", "2", "--connect-timeout-s", "1"],
    )
    service.start()
    url = f"http://127.0.0.1:{service.metrics_port}/metrics"
    second = EmbeddedBroker(port=broker.port, log_path=tmp_path / "broker2.log")
    try:
        assert [r.status for r in publish(service, [event("b0")])] == [ACCEPTED]
        broker.stop()
        with pytest.raises(grpc.RpcError) as error:
            publish(service, [event("b1"), event("b2")])
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "Kafka" in error.value.details() and "no event" in error.value.details()
        assert scrape_metric(url, "vinculo_ingest_events_accepted_total") == 1

        second.start()  # a new, empty broker on the same port
        results = _publish_until_available(service, [event("b1"), event("b2")], timeout_s=20)
        assert [r.status for r in results] == [ACCEPTED, ACCEPTED]  # a retry, not a duplicate
        assert scrape_metric(url, "vinculo_ingest_events_accepted_total") == 3
    finally:
        service.stop()
        second.stop()


def _publish_until_available(
    service: ServiceProcess, events: list[pb.InteractionEvent], timeout_s: float
) -> list[ingest_pb2.EventResult]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return publish(service, events)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            time.sleep(0.3)
