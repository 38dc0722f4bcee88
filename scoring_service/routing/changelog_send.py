"""The changelog's records into the producer's buffers, without `send`'s per-record checks.

`KafkaProducer.send` checks, per record, what the changelog writer already knows:
the key and value are bytes (no serializer), the partition is given, the topic's
metadata is known, the headers are none; it also formats the producer's name for
a debug line whether or not debug logging is on. On the records a batch writes
(one per changed relationship) that was ~40% of a send's CPU: 15 µs against
9.5 µs per record through the producer's record accumulator directly (measured
on 20,000 records of 280 bytes, kafka-python 3.0.12).

`Appender` appends through the accumulator when the installed kafka-python has
the one this was measured against and the topic's metadata is known, else it
calls `send`. Either way the records wait in the producer's batches for the
caller's `flush()`, with the producer's own acks, retries and idempotence.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from kafka import KafkaProducer, TopicPartition

log = logging.getLogger(__name__)


# Larger records (a batch's `E` record of its events) go through `send`, with its size check.
SMALL_BYTES = 64 * 1024


class Appender:
    """Pre-serialised records to explicit partitions of one topic."""

    def __init__(self, producer: KafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic
        self._partitions: dict[int, TopicPartition] = {}
        accumulator = getattr(producer, "_accumulator", None)
        sender = getattr(producer, "_sender", None)
        usable = _known_append(accumulator) and callable(getattr(sender, "wakeup", None))
        self._accumulator: Any = accumulator if usable else None
        self._sender: Any = sender if usable else None
        if not usable:
            log.info("changelog records go through KafkaProducer.send (no record accumulator)")

    @property
    def direct(self) -> bool:
        """Whether records go to the accumulator (False: through `send`)."""
        return self._accumulator is not None

    def append(self, partition: int, key: bytes, value: bytes | None) -> None:
        large = value is not None and len(value) > SMALL_BYTES
        if self._accumulator is None or large or not self._known(partition):
            # `send` waits for the topic's metadata, says what is wrong with the partition,
            # and refuses a record larger than a request may be.
            self._producer.send(self._topic, key=key, value=value, partition=partition)
            return
        tp = self._partitions.get(partition)
        if tp is None:
            tp = self._partitions[partition] = TopicPartition(self._topic, partition)
        _, full, new_batch, _ = self._accumulator.append(tp, None, key, value, [])
        if full or new_batch:  # as `send` does: the sender thread takes it from here
            self._sender.wakeup()

    def _known(self, partition: int) -> bool:
        known = self._producer._metadata.partitions_for_topic(self._topic)
        return known is not None and partition in known


def _known_append(accumulator: object) -> bool:
    """kafka-python 3's `RecordAccumulator.append(tp, timestamp_ms, key, value, headers, now,
    abort_on_new_batch)`, answering (future, batch_is_full, new_batch_created, abort)."""
    append = getattr(accumulator, "append", None)
    if not callable(append):
        return False
    names = list(inspect.signature(append).parameters)
    return names[:5] == ["tp", "timestamp_ms", "key", "value", "headers"] and (
        "abort_on_new_batch" in names
    )
