"""The tombstone topic `vinculo.tombstones.v1`: compacted, keyed by tombstone, read whole.

Every reader of the interaction topic reads this one first (`read_all`) and
drops the events a tombstone matches (`vinculo.erasure`): every scoring
instance (which also keeps them in its store, so a broker that lost its log
gets them back: `scoring_service/erasure/follower.py`) and `vinculo export`.
One partition by default: tombstones are few, and one partition keeps them in
the order they were made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from vinculo.erasure import TOMBSTONES_TOPIC, Tombstone
from vinculo.kafka_positions import reached
from vinculo.security.kafka import PLAINTEXT, KafkaSecurity, kafka_client_config
from vinculo.topics import COMPACTED, TOPIC_ALREADY_EXISTS

log = logging.getLogger(__name__)

POLL_MS = 200


class BadTombstone(ValueError):
    """A record on the tombstone topic that is not a tombstone; names where it is."""


def ensure_topic(bootstrap: str, security: KafkaSecurity = PLAINTEXT, partitions: int = 1) -> None:
    """Create the compacted tombstone topic if missing (idempotent)."""
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="vinculo-admin", **kafka_client_config(security)
    )
    try:
        spec = {"num_partitions": partitions, "replication_factor": -1, "configs": COMPACTED}
        response = admin.create_topics({TOMBSTONES_TOPIC: spec}, raise_errors=False)
    finally:
        admin.close()
    for topic in response["topics"]:
        if topic["error_code"] not in (0, TOPIC_ALREADY_EXISTS):
            raise RuntimeError(
                f"cannot create topic {TOMBSTONES_TOPIC}: error {topic['error_code']} "
                f"{topic['error_message']}"
            )


def publish(producer: KafkaProducer, tombstones: Iterable[Tombstone], timeout_s: float) -> None:
    """Send and wait for the broker's acknowledgement of every tombstone (acks=all)."""
    futures = [producer.send(TOMBSTONES_TOPIC, key=t.key, value=t.encode()) for t in tombstones]
    producer.flush(timeout=timeout_s)
    for future in futures:
        future.get(timeout=timeout_s)


def new_producer(
    bootstrap: str, client_id: str, security: KafkaSecurity = PLAINTEXT
) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        **kafka_client_config(security),
    )


def read_all(
    bootstrap: str, timeout_s: float, security: KafkaSecurity = PLAINTEXT
) -> list[Tombstone]:
    """Every tombstone on the topic, from its beginning to its end when first fetched.

    A missing topic means nothing was forgotten (through this broker). An
    unreadable record raises ValueError: a reader that skipped it could bring
    forgotten data back.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        client_id="vinculo-tombstones",
        bootstrap_timeout_ms=int(timeout_s * 1000),
        **kafka_client_config(security),
    )
    try:
        return list(_read(consumer, timeout_s))
    finally:
        consumer.close()


def _read(consumer: KafkaConsumer, timeout_s: float) -> Iterable[Tombstone]:
    # Asked among all topics: a metadata request naming a missing topic makes some
    # brokers (the embedded one, NOTES.md) create it with their default shape.
    if TOMBSTONES_TOPIC not in consumer.topics():
        return
    numbers = consumer.partitions_for_topic(TOMBSTONES_TOPIC)
    if not numbers:
        return
    partitions = [TopicPartition(TOMBSTONES_TOPIC, p) for p in sorted(numbers)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    ends: dict[TopicPartition, int] = {}
    pending = set(partitions)
    deadline = time.monotonic() + timeout_s
    while pending:
        batches = consumer.poll(timeout_ms=POLL_MS)
        for tp in pending - ends.keys():
            if (watermark := consumer.highwater(tp)) is not None:
                ends[tp] = watermark
        for tp, records in batches.items():
            for record in records:
                if record.value is not None and (tp not in ends or record.offset < ends[tp]):
                    try:
                        yield Tombstone.decode(record.value)
                    except ValueError as exc:
                        where = (
                            f"{TOMBSTONES_TOPIC} partition {tp.partition} offset {record.offset}"
                        )
                        raise BadTombstone(f"{where}: {exc}") from exc
        pending = {tp for tp in pending if not reached(consumer, tp, ends.get(tp))}
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"{TOMBSTONES_TOPIC}: not read to its end in {timeout_s:.0f} s")
