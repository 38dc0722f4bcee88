"""Pre-serialised records into a KafkaProducer's buffers, without `send`'s per-record checks.

`KafkaProducer.send` checks, per record, what a caller with bytes in hand already
knows: the key and value are bytes (no serializer), the topic's metadata is known,
the headers are none; it also formats the producer's name for a debug line
whether or not debug logging is on. That was ~40% of a send's CPU: 15 µs against
9.5 µs per record through the producer's record accumulator directly (measured
on 20,000 records of 280 bytes, kafka-python 3.0.12). The scoring service's
changelog writes one record per changed relationship, the ingest service two per
event.

`Appender` appends through the accumulator when the installed kafka-python has
the one this was measured against and the topic's metadata knows the partition;
otherwise, and for records too large to skip `send`'s size check, it calls
`send`. The partition is the caller's, or the producer's partitioner's for the
key, as `send` would choose it. Either way the record waits in the producer's
batches with the producer's own linger, acks, retries and idempotence, and the
answer is the record's future.

`Appender.append_all` does the same for many records at once (the ingest
service's two per event, placed by key; the scoring changelog's commit, to one
partition at a time): the topic's partitions are read once, each partition's
records go into its open batch under one lock, written in one pass where
vinculo/record_batch.py writes exactly what kafka-python would, and no
per-record future is made: the answer is the futures of the batches the records
went into, each resolved when the broker acknowledged its whole batch (a record
future took ~3 µs to make and resolve, and kept two reference cycles alive until
then).
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Sequence
from typing import Any

from kafka import KafkaProducer, TopicPartition

from vinculo import record_batch

log = logging.getLogger(__name__)

# Larger records (a changelog batch's `E` record of its events) take `send`, with its
# check against the largest request.
SMALL_BYTES = 64 * 1024


class _NoRecordFuture:
    """Stands in a batch's list of record futures for a record appended without one: a batch
    split after MESSAGE_TOO_LARGE rebinds that list by record index, so it keeps one entry
    per record. The caller holds the batch's own future, which a split leaves unresolved
    (the flush then fails it): it is told "not acknowledged", never wrongly "acknowledged"."""

    def rebind(self, new_produce_future: Any, new_batch_index: int) -> None:
        return None


_NO_RECORD_FUTURE = _NoRecordFuture()


class Appender:
    """Records of one topic: bytes, to an explicit partition or by key."""

    def __init__(self, producer: KafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic
        self._partitions: dict[int, TopicPartition] = {}
        accumulator = getattr(producer, "_accumulator", None)
        sender = getattr(producer, "_sender", None)
        usable = _known_append(accumulator) and callable(getattr(sender, "wakeup", None))
        # append_all also takes a partition's lock and open batch itself.
        self._batches_known = usable and all(
            hasattr(accumulator, name) for name in ("_tp_lock", "_batches", "_appends_in_progress")
        )
        # ... and writes whole runs of records into it (vinculo/record_batch.py).
        self._raw_fill = self._batches_known and record_batch.supported()
        self._accumulator: Any = accumulator if usable else None
        self._sender: Any = sender if usable else None
        self._partitioner: Any = producer.config.get("partitioner")
        if not usable:
            log.info("records to %s go through KafkaProducer.send (no known accumulator)", topic)

    @property
    def direct(self) -> bool:
        """Whether records go to the accumulator (False: through `send`)."""
        return self._accumulator is not None

    def append(self, key: bytes | None, value: bytes | None, partition: int | None = None) -> Any:
        """Buffer one record; its future (resolved once the broker acknowledged it)."""
        known = self._producer._metadata.partitions_for_topic(self._topic)
        if partition is None and known and key is not None and self._partitioner is not None:
            partition = self._partitioner.partition(
                self._topic, key, key, value, value, self._producer._metadata
            )
        small = value is None or len(value) <= SMALL_BYTES
        if self._accumulator is None or not small or not known or partition not in known:
            # `send` waits for the topic's metadata, says what is wrong with the partition,
            # and refuses a record larger than a request may be.
            return self._producer.send(self._topic, key=key, value=value, partition=partition)
        assert partition is not None  # `not in known` above
        future, full, new_batch, _ = self._accumulator.append(
            self._tp(partition), None, key, value, []
        )
        if full or new_batch:  # as `send` does: the sender thread takes it from here
            self._sender.wakeup()
        return future

    def append_all(
        self, records: Sequence[record_batch.Record], partition: int | None = None
    ) -> list[Any]:
        """Buffer records in order, to `partition` or each placed by its key as `append`
        places it; the futures whose success together means every record is acknowledged:
        one per batch the records went into (a record taking `send`'s path brings its own)."""
        known = self._producer._metadata.partitions_for_topic(self._topic)
        if (
            not self._batches_known
            or not known
            or (self._partitioner is None if partition is None else partition not in known)
        ):
            # Record by record: `append` and `send` wait for metadata, or say what is wrong.
            return [self.append(key, value, partition) for key, value in records]
        groups: dict[int, list[record_batch.Record]] = {}
        if partition is None:
            place = self._placer(sorted(known))
            for key, value in records:
                groups.setdefault(place(key, value), []).append((key, value))
        else:
            groups[partition] = list(records)
        futures: list[Any] = []
        stamp = int(time.time() * 1000)  # the records' CreateTime, as `send` would set it
        self._accumulator._appends_in_progress.increment()  # as `append` counts itself
        try:
            for placed, group in groups.items():
                futures.extend(self._fill(self._tp(placed), group, stamp))
        finally:
            self._accumulator._appends_in_progress.decrement()
        return futures

    def _placer(self, ordered: list[int]) -> Any:
        """key, value -> partition; `RememberingPartitioner.hash_of`'s placement when the
        producer has one (the hash remembered, the partitions listed once per call)."""
        hash_of = getattr(self._partitioner, "hash_of", None)
        if hash_of is not None:
            count = len(ordered)
            return lambda key, _value: ordered[hash_of(key) % count]
        topic, metadata, partitioner = self._topic, self._producer._metadata, self._partitioner
        return lambda key, value: partitioner.partition(topic, key, key, value, value, metadata)

    def _tp(self, partition: int) -> TopicPartition:
        tp = self._partitions.get(partition)
        if tp is None:
            tp = self._partitions[partition] = TopicPartition(self._topic, partition)
        return tp

    def _fill(self, tp: TopicPartition, group: list[record_batch.Record], stamp: int) -> list[Any]:
        """One partition's records into its open batch under the partition's lock; a record
        that does not fit takes the accumulator's `append` (which opens the next batch)."""
        accumulator, futures, done = self._accumulator, [], 0
        while done < len(group):
            with accumulator._tp_lock(tp):
                queue = accumulator._batches[tp]
                batch: Any = queue[-1] if queue else None
                start = done
                if batch is not None:
                    done = self._into(batch, group, done, stamp)
                    # One entry per record: a batch split after MESSAGE_TOO_LARGE rebinds
                    # the record futures by index (`_NoRecordFuture`).
                    batch._record_futures.extend([_NO_RECORD_FUTURE] * (done - start))
                if done > start:
                    futures.append(batch.produce_future)
            if done < len(group):
                key, value = group[done]
                if value is not None and len(value) > SMALL_BYTES:
                    futures.append(self.append(key, value, tp.partition))
                else:
                    future, _, _, _ = accumulator.append(tp, stamp, key, value, [])
                    futures.append(future)
                    self._sender.wakeup()  # a new batch, as `send` does
                done += 1
        return futures

    def _into(self, batch: Any, group: list[record_batch.Record], start: int, stamp: int) -> int:
        """`group[start:]` into the open `batch` while they fit and are small; the index of
        the first record left."""
        if self._raw_fill:
            return record_batch.fill(batch, group, start, stamp, SMALL_BYTES)
        done = start
        for key, value in group[start:]:
            if value is not None and len(value) > SMALL_BYTES:  # `send`'s path, outside
                break
            metadata = batch.records.append(stamp, key, value, [])
            if metadata is None:  # full, or closed by the sender: a new batch
                break
            batch.max_record_size = max(batch.max_record_size, metadata.size)
            done += 1
        if done > start:
            batch.last_append = time.monotonic()
        return done


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
