"""A scoring service whose interaction topic comes back with another partition count while
it runs (the embedded broker re-creates a lost topic with its own count, 4, when a client
asks first): it rejoins, consumes every partition, places owners by the topic's count,
serves them, and says so in its log. (At a start, such a topic is refused with the fix:
vinculo/topics.py check_partitions.)"""

from __future__ import annotations

import contextlib
from pathlib import Path

import grpc
from kafka import KafkaProducer
from kafka.errors import TopicAlreadyExistsError

from bench.raw_kafka import create_topic
from tests.harness import ServiceProcess, wait_until
from vinculo.topics import INTERACTIONS_TOPIC
from vinculo.v1 import events_pb2 as ev
from vinculo.v1 import scoring_pb2 as pb
from vinculo.v1 import scoring_pb2_grpc
from vinculo_apps.devstack.broker import EmbeddedBroker

T0 = 1_750_000_000
OWNERS = [f"owner-{i}" for i in range(12)]


def message(owner: str, n: int) -> ev.InteractionEvent:
    event = ev.InteractionEvent(
        event_id=f"{owner}-{n}",
        owner_id=owner,
        contact_id=f"contact-{n}",
        type=ev.INTERACTION_TYPE_MESSAGE,
        direction=ev.DIRECTION_OUTBOUND,
        channel="email",
    )
    event.occurred_at.FromSeconds(T0 + n)
    return event


def served(stub: scoring_pb2_grpc.ScoringServiceStub, owner: str) -> bool:
    try:
        stub.ListRelationships(pb.ListRelationshipsRequest(owner_id=owner), timeout=5)
    except grpc.RpcError as exc:
        if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
            return False
        raise
    return True


def test_a_topic_back_with_another_partition_count_is_consumed_whole_and_reported(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    service = ServiceProcess("scoring_service", tmp_path / "scoring", broker.bootstrap)
    try:
        service.start()  # creates the topics with the configured 8 partitions
        broker.stop()
        broker.start()  # empty: the topic is re-created with 4, by us or by the consumer
        with contextlib.suppress(TopicAlreadyExistsError):  # the consumer asked first
            create_topic(broker.bootstrap, INTERACTIONS_TOPIC, 4)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        try:
            for n, owner in enumerate(OWNERS):
                value = message(owner, n).SerializeToString()
                producer.send(INTERACTIONS_TOPIC, key=owner.encode(), value=value)
            producer.flush(timeout=30)
        finally:
            producer.close()
        with grpc.insecure_channel(service.address) as channel:
            stub = scoring_pb2_grpc.ScoringServiceStub(channel)
            wait_until(lambda: all(served(stub, o) for o in OWNERS), 120, "every owner served")
        # The lost-log path may consume partitions 0-3 under the old assignment before
        # the group rebalances: the new assignment and its warning come when they come.
        expected = [
            "partitions assigned: [0, 1, 2, 3]",
            f"topic {INTERACTIONS_TOPIC} now has 4 partitions, not 8",
        ]
        wait_until(
            lambda: all(line in service.log_text() for line in expected),
            60,
            f"the log to say {expected}",
        )
    finally:
        service.stop()
