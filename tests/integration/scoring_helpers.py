"""What the scoring service's integration tests share: events, a producer straight to
Kafka, the service process, its stub, and read-only looks into its store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

import grpc
from kafka import KafkaProducer

from tests.harness import ServiceProcess
from vinculo.topics import INTERACTIONS_TOPIC, ensure_topics
from vinculo.v1 import events_pb2 as ev
from vinculo.v1 import scoring_pb2 as pb
from vinculo.v1 import scoring_pb2_grpc
from vinculo_apps.devstack.broker import EmbeddedBroker

T0 = 1_750_000_000


def interaction(
    event_id: str, owner: str, contact: str, t: float, **fields: object
) -> ev.InteractionEvent:
    values: dict[str, object] = {
        "type": ev.INTERACTION_TYPE_MESSAGE,
        "direction": ev.DIRECTION_OUTBOUND,
        "channel": "email",
        **fields,
    }
    event = ev.InteractionEvent(event_id=event_id, owner_id=owner, contact_id=contact, **values)  # type: ignore[arg-type]
    event.occurred_at.FromNanoseconds(int(t * 1e9))
    return event


@contextmanager
def producer(bootstrap: str) -> Iterator[KafkaProducer]:
    ensure_topics(bootstrap, 8)  # as the ingest service does: never the broker's default count
    kafka = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024)
    try:
        yield kafka
    finally:
        kafka.close()


def send_raw(kafka: KafkaProducer, key: bytes, value: bytes) -> None:
    headers = [("content-type", b"application/x-protobuf")]
    kafka.send(INTERACTIONS_TOPIC, key=key, value=value, headers=headers)


def send(kafka: KafkaProducer, events: Sequence[ev.InteractionEvent]) -> None:
    for event in events:
        send_raw(kafka, event.owner_id.encode(), event.SerializeToString())
    kafka.flush()


@contextmanager
def scoring_service(
    broker: EmbeddedBroker, data_dir: Path, *extra: str
) -> Iterator[ServiceProcess]:
    service = ServiceProcess("scoring_service", data_dir, broker.bootstrap, list(extra))
    try:
        yield service.start()
    finally:
        service.stop()


@contextmanager
def stub_for(service: ServiceProcess) -> Iterator[scoring_pb2_grpc.ScoringServiceStub]:
    with grpc.insecure_channel(service.address) as channel:
        yield scoring_pb2_grpc.ScoringServiceStub(channel)


def contacts_of(
    stub: scoring_pb2_grpc.ScoringServiceStub, owner: str, timeout_s: float = 5.0
) -> dict[str, pb.Relationship]:
    try:
        reply = stub.ListRelationships(
            pb.ListRelationshipsRequest(owner_id=owner, page_size=1000), timeout=timeout_s
        )
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return {}
        raise
    return {r.contact_id: r for r in reply.relationships}


def contacts_once_served(
    stub: scoring_pb2_grpc.ScoringServiceStub, owner: str
) -> dict[str, pb.Relationship]:
    """`contacts_of`, with UNAVAILABLE read as "not yet": after a broker restart the
    group rejoins, and a partition being assigned answers UNAVAILABLE with a retry hint.
    The deadline leaves the service's own wait for a moving partition (5 s, then
    UNAVAILABLE) room to answer on a loaded machine: with 5 s, it waited 4 s and a slow
    answer was DEADLINE_EXCEEDED."""
    try:
        return contacts_of(stub, owner, timeout_s=20.0)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNAVAILABLE:
            return {}
        raise


def _read_store(data_dir: Path, query: str) -> list[tuple[object, ...]]:
    path = data_dir / "scoring.sqlite3"
    if not path.exists():
        return []
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        try:
            return db.execute(query).fetchall()
        except sqlite3.OperationalError:  # the service has not created its tables yet
            return []


def stored_offsets(data_dir: Path) -> int:
    """Sum of the next offsets in a service's store: records durably consumed."""
    rows = _read_store(data_dir, "SELECT coalesce(sum(next_offset), 0) FROM offsets")
    return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]


def stored_states(data_dir: Path) -> list[tuple[object, ...]]:
    """Every relationship row (owner, contact, state bytes, schema version), ordered."""
    return _read_store(
        data_dir,
        "SELECT owner, contact, state, schema_version FROM relationships ORDER BY owner, contact",
    )


def workload(n: int, owners: int = 40, contacts: int = 25) -> list[ev.InteractionEvent]:
    """A deterministic mix of kinds and directions, with replies naming earlier messages."""
    kinds = [
        (ev.INTERACTION_TYPE_MESSAGE, ev.DIRECTION_OUTBOUND),
        (ev.INTERACTION_TYPE_MESSAGE, ev.DIRECTION_INBOUND),
        (ev.INTERACTION_TYPE_REPLY, ev.DIRECTION_INBOUND),
        (ev.INTERACTION_TYPE_COMMENT, ev.DIRECTION_OUTBOUND),
        (ev.INTERACTION_TYPE_REACTION, ev.DIRECTION_INBOUND),
        (ev.INTERACTION_TYPE_CALL, ev.DIRECTION_OUTBOUND),
        (ev.INTERACTION_TYPE_MEETING_IN_PERSON, ev.DIRECTION_MUTUAL),
    ]
    events: list[ev.InteractionEvent] = []
    last_message: dict[tuple[str, str], str] = {}
    for i in range(n):
        owner, contact = f"owner-{i % owners}", f"contact-{(i // owners) % contacts}"
        kind, direction = kinds[(i // owners) % len(kinds)]
        extra: dict[str, object] = {"personalized": i % 3 == 0}
        if kind == ev.INTERACTION_TYPE_REPLY and (owner, contact) in last_message:
            extra["in_reply_to"] = last_message[(owner, contact)]
        event_id = f"w{i}"
        if kind == ev.INTERACTION_TYPE_MESSAGE and direction == ev.DIRECTION_OUTBOUND:
            last_message[(owner, contact)] = event_id
        events.append(
            interaction(
                event_id, owner, contact, T0 + 37 * i, type=kind, direction=direction, **extra
            )
        )
    return events
