"""vinculo.kafka_append against a real broker: records appended straight to the producer's
accumulator land as `send` would put them (partition given or by key, key, value,
deletes, order); large records and a partition the topic lacks take `send`'s path."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from bench.raw_kafka import create_topic
from vinculo.kafka_append import SMALL_BYTES, Appender
from vinculo.partitioning import RememberingPartitioner, partition_of
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
        wanted: list[tuple[int, bytes, bytes | None]] = [
            (i % 3, f"R{i}".encode(), f"v{i}".encode()) for i in range(300)
        ]
        wanted += [(1, b"Rgone", None), (2, b"E7", big)]
        for p, key, value in wanted:
            appender.append(key, value, p)
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
            Appender(producer, TOPIC).append(b"Rx", b"v", 5)
    finally:
        producer.close()


def test_records_by_key_land_where_send_puts_them(broker: EmbeddedBroker) -> None:
    create_topic(broker.bootstrap, TOPIC, 4)
    owners = [f"owner-{i}" for i in range(40)]
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, acks="all", partitioner=RememberingPartitioner()
    )
    try:
        producer.send(TOPIC, key=b"owner-0", value=b"first").get(timeout=30)
        appender = Appender(producer, TOPIC)
        futures = [appender.append(owner.encode(), owner.encode()) for owner in owners]
        producer.flush(timeout=30)
        assert all(future.succeeded() for future in futures)
    finally:
        producer.close()
    found = _read(broker.bootstrap, 4, len(owners) + 1)
    assert len(found) == len(owners) + 1
    for partition, key, _ in found:
        assert partition == partition_of(key.decode(), 4)


def test_runs_of_records_land_in_order_across_batches_and_their_futures_answer(
    broker: EmbeddedBroker,
) -> None:
    create_topic(broker.bootstrap, TOPIC, 3)
    # Small batches: a run of records fills several, and a large record goes by `send`.
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, acks="all", linger_ms=5, batch_size=4096
    )
    try:
        producer.send(TOPIC, key=b"R0", value=b"first", partition=0).get(timeout=30)
        appender = Appender(producer, TOPIC)
        big = b"b" * (SMALL_BYTES + 1)
        runs: dict[int, list[tuple[bytes | None, bytes | None]]] = {
            p: [(f"R{p}-{i}".encode(), f"value {i}".encode() * (i % 7)) for i in range(400)]
            for p in range(3)
        }
        runs[1][100] = (b"Rgone", None)
        runs[2][200] = (b"E7", big)
        futures = [f for p, run in runs.items() for f in appender.append_all(run, p)]
        assert len(futures) < 40  # one per run that went into one batch, not one per record
        producer.flush(timeout=30)
        assert all(future.succeeded() for future in futures)
    finally:
        producer.close()
    found = _read(broker.bootstrap, 3, 3 * 400 + 1)
    expected = {p: list(run) for p, run in runs.items()}
    expected[0].insert(0, (b"R0", b"first"))
    for p in range(3):
        assert [(k, v) for q, k, v in found if q == p] == expected[p]


def test_a_calls_records_land_by_key_in_order_with_one_future_per_batch(
    broker: EmbeddedBroker,
) -> None:
    """append_all: placed as `send` places keys, in order per partition, across batches
    filled and opened (1 KiB batches), a large record through `send`; the futures are the
    batches' (fewer than the records) and all succeed once flushed."""
    create_topic(broker.bootstrap, TOPIC, 4)
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap,
        acks="all",
        linger_ms=5,
        batch_size=1024,
        partitioner=RememberingPartitioner(),
    )
    wanted = [(f"owner-{i % 7}".encode(), f"value-{i}".encode() * 3) for i in range(400)]
    wanted.insert(200, (b"owner-big", b"b" * (SMALL_BYTES + 1)))
    try:
        producer.send(TOPIC, key=b"owner-0", value=b"first").get(timeout=30)  # metadata
        futures = Appender(producer, TOPIC).append_all(wanted)
        producer.flush(timeout=30)
        assert len(futures) < len(wanted) / 4
        assert all(future.succeeded() for future in futures)
    finally:
        producer.close()
    found = _read(broker.bootstrap, 4, len(wanted) + 1)
    everything = [(b"owner-0", b"first"), *wanted]
    for partition in range(4):
        assert [(k, v) for p, k, v in found if p == partition] == [
            (k, v) for k, v in everything if partition_of(k.decode(), 4) == partition
        ]


def test_a_split_batch_keeps_record_futures_on_their_records_and_fails_the_batch_future(
    broker: EmbeddedBroker,
) -> None:
    """What the sender does with a batch the broker found too large (split it in two and
    rebind each record's future by its index): a record appended with its own future after
    a call's records still follows its record, and the call's batch future is never
    resolved as acknowledged."""
    create_topic(broker.bootstrap, TOPIC, 1)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=60_000)
    try:
        first = producer.send(TOPIC, key=b"k", value=b"first")
        producer.flush(timeout=30)  # not the linger: the batch below must wait for the test
        assert first.succeeded()
        appender = Appender(producer, TOPIC)
        batch_futures = appender.append_all([(b"k", f"v{i}".encode()) for i in range(6)])
        own = appender.append(b"k", b"v6", 0)
        accumulator = producer._accumulator
        tp = TopicPartition(TOPIC, 0)
        with accumulator._tp_lock(tp):
            batch = accumulator._batches[tp].pop()  # as the sender drains it
            batch.records.close()
        assert accumulator.split_and_reenqueue(batch) == 2  # records 0-3 and 4-6
        accumulator.deallocate(batch)
        second = accumulator._batches[tp][1]
        assert own._produce_future is second.produce_future  # index 6 stayed record 6
        producer.flush(timeout=30)
        assert own.succeeded()
        assert not all(future.succeeded() for future in batch_futures)
    finally:
        producer.close()
    found = _read(broker.bootstrap, 1, 8)
    assert [v for _, _, v in found] == [b"first", *(f"v{i}".encode() for i in range(7))]
