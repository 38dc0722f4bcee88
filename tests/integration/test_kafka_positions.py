"""vinculo.kafka_positions against a real broker: a position whose reset the broker never
answers (a partition the topic lacks, as after the embedded broker re-created it with
fewer partitions) reads as unknown at once, where `KafkaConsumer.position` would wait."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bench.raw_kafka import create_topic
from vinculo.kafka_positions import beyond, known_position, reached
from vinculo_apps.devstack.broker import EmbeddedBroker

TOPIC = "vinculo.positions.test"


def test_a_reset_the_broker_cannot_answer_reads_as_unknown_without_waiting(
    broker: EmbeddedBroker,
) -> None:
    create_topic(broker.bootstrap, TOPIC, 2)
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    try:
        missing = TopicPartition(TOPIC, 6)  # the topic has partitions 0 and 1 only
        consumer.assign([missing])
        consumer.seek_to_beginning(missing)
        started = time.monotonic()
        assert known_position(consumer, missing) is None
        assert not reached(consumer, missing, 0)
        assert not beyond(consumer, missing, 0)
        assert time.monotonic() - started < 2.0  # position() without a timeout never returned
    finally:
        consumer.close()


def test_a_known_position_compares_with_the_log_end(broker: EmbeddedBroker) -> None:
    create_topic(broker.bootstrap, TOPIC, 1)
    with_records = TopicPartition(TOPIC, 0)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    try:
        for value in (b"a", b"b", b"c"):
            producer.send(TOPIC, value=value, partition=0)
        producer.flush(timeout=30)
    finally:
        producer.close()
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    try:
        consumer.assign([with_records])
        consumer.seek(with_records, 3)
        assert known_position(consumer, with_records) == 3
        assert reached(consumer, with_records, 3) and not reached(consumer, with_records, 4)
        assert beyond(consumer, with_records, 2) and not beyond(consumer, with_records, 3)
        assert not reached(consumer, with_records, None)
    finally:
        consumer.close()
