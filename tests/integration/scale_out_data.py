"""What the scale-out tests share: a deterministic network of OWNERS owners, published
straight to Kafka, and each owner's whole ranking as an instance answers it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
from kafka import KafkaConsumer, KafkaProducer

from tests.harness import ServiceProcess
from vinculo.timestamps import set_seconds
from vinculo.topics import INTERACTIONS_TOPIC, ensure_topics
from vinculo.v1 import events_pb2 as ev
from vinculo.v1 import scoring_pb2 as pb
from vinculo.v1 import scoring_pb2_grpc
from vinculo_apps.devstack.broker import EmbeddedBroker

OWNERS = 200
CONTACTS = 5
T0 = 1_750_000_000.0
PARTITIONS = 8  # of the interaction topic (publish creates it)
AS_OF = T0 + 30 * 86_400.0  # pinned, so answers do not move with the clock

Ranking = list[tuple[str, float, int, int]]
Answer = Ranking | str


def owner(i: int) -> str:
    return f"owner-{i:03d}"


def events_of(owners: range) -> Iterator[ev.InteractionEvent]:
    for i in owners:
        for c in range(CONTACTS):
            for k in range(c + 1):  # contact c gets c+1 messages: a distinct ranking
                event = ev.InteractionEvent(
                    event_id=f"e-{i}-{c}-{k}",
                    owner_id=owner(i),
                    contact_id=f"contact-{c}",
                    type=ev.INTERACTION_TYPE_MESSAGE,
                    direction=ev.DIRECTION_INBOUND if k % 2 else ev.DIRECTION_OUTBOUND,
                    channel="email",
                    owner_only=True,
                )
                set_seconds(event.occurred_at, T0 + 3600.0 * (c * 10 + k))
                yield event


def publish(bootstrap: str, owners: range) -> int:
    ensure_topics(bootstrap, PARTITIONS)
    kafka = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    sent = 0
    try:
        for event in events_of(owners):
            kafka.send(
                INTERACTIONS_TOPIC, key=event.owner_id.encode(), value=event.SerializeToString()
            )
            sent += 1
        kafka.flush()
    finally:
        kafka.close()
    return sent


def ranking(channel: grpc.Channel, owner_id: str) -> Ranking | str:
    """The owner's whole ranking as of AS_OF (contact, score, tier, events counted), or
    the status code's name on an error: an event lost or counted twice changes it."""
    return ranking_or_error(channel, owner_id)[0]


def ranking_or_error(channel: grpc.Channel, owner_id: str) -> tuple[Answer, str]:
    """`ranking`, and the error's details (empty when answered)."""
    stub = scoring_pb2_grpc.ScoringServiceStub(channel)
    request = pb.ListRelationshipsRequest(owner_id=owner_id, page_size=100)
    set_seconds(request.as_of, AS_OF)
    try:
        reply = stub.ListRelationships(request, timeout=10)
    except grpc.RpcError as exc:
        return exc.code().name, str(exc.details())
    return [
        (r.contact_id, round(r.score, 9), r.tier, events_counted(r)) for r in reply.relationships
    ], ""


def events_counted(relationship: pb.Relationship) -> int:
    return sum(c.inbound + c.outbound + c.mutual for c in relationship.signals.counts)


def scoring_instance(broker: EmbeddedBroker, data_dir: Path, group: str) -> ServiceProcess:
    return ServiceProcess(
        "scoring_service", data_dir, broker.bootstrap, ["--consumer-group", group]
    )


def all_answers(address: str) -> dict[str, Ranking | str]:
    with grpc.insecure_channel(address) as channel:
        return {owner(i): ranking(channel, owner(i)) for i in range(OWNERS)}


def answers_of(address: str, owners: int) -> list[Ranking | str]:
    with grpc.insecure_channel(address) as channel:
        return [ranking(channel, owner(i)) for i in range(owners)]


def topic_exists(bootstrap: str) -> bool:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return INTERACTIONS_TOPIC in consumer.topics()
    finally:
        consumer.close()
