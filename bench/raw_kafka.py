"""Peer 1: kafka-python producing then consuming the same records, no Vinculo code.

The records are exactly the ones the ingest service writes for the same
events (the serialized InteractionEvent and its mirrored copy, keyed by
owner), built before the clock starts. Same partition count, acks=all and the
producer settings the ingest service uses (linger 5 ms, 256 KiB batches); the
consumer assigns the partitions itself (no group join) and polls up to 5,000
records at a time, as a hand-written consumer would.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from vinculo.security.kafka import PLAINTEXT, KafkaSecurity, kafka_client_config
from vinculo.topics import INTERACTIONS_TOPIC
from vinculo.v1 import events_pb2 as pb
from vinculo.validation import mirrored

Record = tuple[bytes, bytes]


def records_for(events: Iterable[pb.InteractionEvent]) -> list[Record]:
    """(key, value) pairs as the ingest service publishes them: each event, then its mirror."""
    records: list[Record] = []
    for event in events:
        records.append((event.owner_id.encode(), event.SerializeToString()))
        copy = mirrored(event)
        if copy is not None:
            records.append((copy.owner_id.encode(), copy.SerializeToString()))
    return records


def create_topic(
    bootstrap: str, topic: str, partitions: int, security: KafkaSecurity = PLAINTEXT
) -> None:
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="bench-admin", **kafka_client_config(security)
    )
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=-1)])
    finally:
        admin.close()


@dataclass(frozen=True)
class RawKafkaResult:
    records: int
    value_bytes_mean: float
    produce_s: float
    consume_s: float

    @property
    def produce_eps(self) -> float:
        return self.records / self.produce_s

    @property
    def consume_eps(self) -> float:
        return self.records / self.consume_s

    @property
    def eps(self) -> float:
        """Records per second through produce-then-consume (both phases' time)."""
        return self.records / (self.produce_s + self.consume_s)


def produce(
    bootstrap: str,
    topic: str,
    records: Sequence[Record],
    linger_ms: int = 5,
    security: KafkaSecurity = PLAINTEXT,
) -> float:
    """Send every record with acks=all and wait for all acks; returns the seconds taken."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=linger_ms,
        batch_size=262_144,
        max_request_size=8 * 1024 * 1024,
        **kafka_client_config(security),
    )
    try:
        start = time.perf_counter()
        for key, value in records:
            producer.send(topic, key=key, value=value)
        producer.flush()
        return time.perf_counter() - start
    finally:
        producer.close()


def consume(
    bootstrap: str,
    topic: str,
    partitions: int,
    expected: int,
    timeout_s: float,
    security: KafkaSecurity = PLAINTEXT,
) -> float:
    """Read `expected` records from the start of every partition; returns the seconds taken."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_poll_records=5000,
        fetch_max_bytes=52_428_800,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        **kafka_client_config(security),
    )
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        seen = 0
        start = time.perf_counter()
        deadline = start + timeout_s
        while seen < expected:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"raw consumer saw {seen} of {expected} records")
            for batch in consumer.poll(timeout_ms=200).values():
                seen += len(batch)
        return time.perf_counter() - start
    finally:
        consumer.close()


def run(
    bootstrap: str, records: Sequence[Record], partitions: int, topic: str = "bench.raw.v1"
) -> RawKafkaResult:
    create_topic(bootstrap, topic, partitions)
    produce_s = produce(bootstrap, topic, records)
    consume_s = consume(bootstrap, topic, partitions, len(records), timeout_s=600)
    mean = sum(len(v) for _, v in records) / max(len(records), 1)
    return RawKafkaResult(len(records), mean, produce_s, consume_s)


def publish_direct(bootstrap: str, events: Iterable[pb.InteractionEvent]) -> tuple[int, float]:
    """Write events straight to the interaction topic as the ingest service would
    (for bulk-loading state fast); returns (records, seconds)."""
    records = records_for(events)
    return len(records), produce(bootstrap, INTERACTIONS_TOPIC, records, 20)
