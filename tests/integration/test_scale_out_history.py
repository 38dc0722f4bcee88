"""An owner restored from the changelog on a new instance keeps its contacts' names and
the per-event history a past `as_of` needs (issue "Scale out", point 2).

One instance scores the events, a single-instance reference in its own group scores
them too; then the interaction topic loses its records and a new instance with an
empty disk restores the group's partitions from the changelog. It must answer every
owner, at a past instant and now, with names, exactly as the reference did.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from tests.harness import ServiceProcess, wait_until
from vinculo.timestamps import set_seconds
from vinculo.topics import INTERACTIONS_TOPIC, ensure_topics
from vinculo.v1 import events_pb2 as ev
from vinculo.v1 import scoring_pb2 as pb
from vinculo.v1 import scoring_pb2_grpc
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

OWNERS = 40
CONTACTS = 4
T0 = 1_750_000_000.0
HOUR = 3600.0
PAST = T0 + 20 * HOUR  # between the first and the last events of most contacts
NOW = T0 + 30 * 86_400.0
Answer = list[tuple[str, float, int, str, str, str]] | str


def events() -> Iterator[ev.InteractionEvent]:
    for i in range(OWNERS):
        for c in range(CONTACTS):
            for k in range(c + 2):
                event = ev.InteractionEvent(
                    event_id=f"h-{i}-{c}-{k}",
                    owner_id=f"owner-{i:02d}",
                    contact_id=f"contact-{c}",
                    type=ev.INTERACTION_TYPE_MESSAGE,
                    direction=ev.DIRECTION_INBOUND if k % 2 else ev.DIRECTION_OUTBOUND,
                    channel="email",
                    owner_only=True,
                )
                if k == 0:  # the name comes with the first event, the company with a later one
                    event.contact_name = f"Name {i}-{c}"
                if k == 1:
                    event.contact_company = f"Company {c}"
                set_seconds(event.occurred_at, T0 + HOUR * (c * 8 + k * 5))
                yield event


def publish(bootstrap: str) -> int:
    ensure_topics(bootstrap, 8)
    kafka = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    sent = 0
    try:
        for event in events():
            key = event.owner_id.encode()
            kafka.send(INTERACTIONS_TOPIC, key=key, value=event.SerializeToString())
            sent += 1
        kafka.flush()
    finally:
        kafka.close()
    return sent


def ranking(stub: scoring_pb2_grpc.ScoringServiceStub, owner: str, as_of: float) -> Answer:
    request = pb.ListRelationshipsRequest(owner_id=owner, page_size=100)
    set_seconds(request.as_of, as_of)
    try:
        reply = stub.ListRelationships(request, timeout=10)
    except grpc.RpcError as exc:
        return exc.code().name
    return [
        (r.contact_id, round(r.score, 9), r.tier, r.contact_name, r.contact_company,
         r.contact_position)
        for r in reply.relationships
    ]  # fmt: skip


def answers(address: str) -> dict[tuple[str, float], Answer]:
    with grpc.insecure_channel(address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        return {
            (f"owner-{i:02d}", t): ranking(stub, f"owner-{i:02d}", t)
            for i in range(OWNERS)
            for t in (PAST, NOW)
        }


def instance(broker: EmbeddedBroker, data_dir: Path, group: str) -> ServiceProcess:
    args = ["--consumer-group", group]
    return ServiceProcess("scoring_service", data_dir, broker.bootstrap, args)


def lose_the_log(bootstrap: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics([INTERACTIONS_TOPIC])
    finally:
        admin.close()

    def gone() -> bool:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap)
        try:
            return INTERACTIONS_TOPIC not in consumer.topics()
        finally:
            consumer.close()

    wait_until(lambda: gone() or None, what="the topic deleted")
    ensure_topics(bootstrap, 8)  # before any client's metadata request re-creates it


def test_a_restored_owner_keeps_names_and_answers_a_past_as_of(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        reference = instance(broker, tmp_path / "reference", "reference")
        first = instance(broker, tmp_path / "first", "scaled")
        for service in (reference, first):
            stack.callback(service.stop)
            service.start()
        sent = publish(broker.bootstrap)
        for service in (reference, first):
            wait_until(
                lambda service=service: (
                    service.metric("vinculo_scoring_events_committed_total") == sent or None
                ),
                timeout_s=60,
                what=f"{service.address} scored every event",
            )
        expected = answers(reference.address)
        past = [a for (_, t), a in expected.items() if t == PAST]
        now = [a for (_, t), a in expected.items() if t == NOW]
        assert all(isinstance(a, list) and len(a) == CONTACTS for a in now), now[:2]
        assert all(isinstance(a, list) and a[0][3].startswith("Name ") for a in now)
        assert past != now  # the past instant answers differently: history is needed
        first.stop()
        reference.stop()
        lose_the_log(broker.bootstrap)

        newcomer = instance(broker, tmp_path / "newcomer", "scaled")
        stack.callback(newcomer.stop)
        newcomer.start()
        assert "restored from the changelog" in newcomer.log_text()
        assert answers(newcomer.address) == expected
