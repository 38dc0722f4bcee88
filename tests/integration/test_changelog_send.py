"""The changelog's appender against a real broker: records appended straight to the
producer's accumulator land as `send` would put them (partition, key, value, deletes,
order), large records and a partition the topic lacks take `send`'s path."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from bench.raw_kafka import create_topic
from scoring_service.routing.changelog_send import SMALL_BYTES, Appender
from vinculo_apps.devstack.broker import EmbeddedBroker

TOPIC = "vinculo.changelog.test"


def _read(bootstrap: str, partitions: int, expected: int) -> list[tuple[int, bytes, bytes | None]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(TOPIC, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        found: list[tuple[int, bytes, bytes | None]] = []
        for _ in range(100):  # bounded: each poll waits at most a second
            for tp, records in consumer.poll(timeout_ms=1000).items():
                found.extend((tp.partition, r.key, r.value) for r in records)
            if len(found) >= expected:
                break
        return found
    finally:
        consumer.close()


def test_appended_records_land_like_sent_ones(broker: EmbeddedBroker) -> None:
    create_topic(broker.bootstrap, TOPIC, 3)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=5)
    try:
        producer.send(TOPIC, key=b"R0", value=b"first", partition=0).get(timeout=30)  # metadata
        appender = Appender(producer, TOPIC)
        assert appender.direct  # the installed kafka-python's accumulator is the known one
        big = b"b" * (SMALL_BYTES + 1)
        wanted = [(i % 3, f"R{i}".encode(), f"v{i}".encode()) for i in range(300)]
        wanted += [(1, b"Rgone", None), (2, b"E7", big)]
        for p, key, value in wanted:
            appender.append(p, key, value)
        producer.flush(timeout=30)
    finally:
        producer.close()
    found = _read(broker.bootstrap, 3, len(wanted) + 1)
    everything = [(0, b"R0", b"first"), *wanted]
    for p in range(3):  # each partition: the same records, in the order appended
        assert [(k, v) for q, k, v in found if q == p] == [
            (k, v) for q, k, v in everything if q == p
        ]


def test_a_partition_the_topic_lacks_is_refused_as_send_refuses_it(
    broker: EmbeddedBroker,
) -> None:
    create_topic(broker.bootstrap, TOPIC, 2)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", max_block_ms=5000)
    try:
        producer.send(TOPIC, value=b"first", partition=0).get(timeout=30)
        with pytest.raises((AssertionError, KafkaError, ValueError)):
            Appender(producer, TOPIC).append(5, b"Rx", b"v")
    finally:
        producer.close()
