"""Each partition's state, backed by a compacted changelog topic and restored from it.

What the store commits for a batch is first written to the changelog partition of
the same number (the records: changelog_format.py): one record per relationship
the batch changed (its state, and its profile when that changed), then one per
partition with the batch's applied events and the input offset it reaches.

Every value carries the batch's end offset E (the next input offset after it).
The records are flushed (acks=all) before the store's transaction commits, so the
changelog is never behind the store. A crash between the two leaves the changelog
ahead: the store resumes at its own offsets and writes the same batch again.
A crash in the middle of a flush leaves some state records of a batch without its
closing `E` record: a restore then resumes at the last whole batch and, until the
consumer passes the largest E it restored, skips for each relationship the records
its restored state already holds (offset < its E) (`RestoreGuard`), so no event is
lost or counted twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaTimeoutError

from scoring_service.codec import decode_states
from scoring_service.profiles import Profile
from scoring_service.routing.changelog_format import (
    MARKER_KEY,
    SEP,
    ChangelogFormatError,
    Erased,
    RestoredPartition,
    batch_records,
    is_batch_end,
    read_record,
)
from scoring_service.store import Batch, RelationshipKey
from vinculo.kafka_append import Appender
from vinculo.kafka_positions import reached
from vinculo.partitioning import partition_of

__all__ = [
    "MARKER_KEY",
    "ChangelogFormatError",
    "ChangelogWriter",
    "RestoredPartition",
    "is_batch_end",
    "read_record",
    "restore",
]

log = logging.getLogger(__name__)

RESTORE_POLL_MS = 500
END_OFFSETS_TIMEOUT_MS = 2_000


class ChangelogWriter:
    def __init__(self, bootstrap: str, topic: str, partitions: int, **client: Any) -> None:
        self.topic = topic
        self._partitions = partitions
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            client_id="vinculo-scoring-changelog",
            acks="all",
            linger_ms=5,
            batch_size=512 * 1024,
            **client,
        )
        self._appender = Appender(self._producer, topic)

    def close(self) -> None:
        self._producer.close()

    def set_partitions(self, partitions: int) -> None:
        self._partitions = partitions

    def write(
        self,
        batch: Batch,
        log_id: str | None,
        stored_profiles: Mapping[RelationshipKey, Profile] | None = None,
    ) -> None:
        """Write the batch's changes to the changelog and wait for the broker's acks.
        `stored_profiles`: the store's profiles of the batch's relationships."""
        if not batch.offsets:
            return
        append = self._appender.append
        for p, key, value in batch_records(batch, log_id, self._partitions, stored_profiles or {}):
            append(key, value, p)
        self._producer.flush()

    def forget(self, relationships: list[RelationshipKey], seen: list[tuple[str, str]]) -> None:
        """Null records (deletes, for compaction and for `restore`) for erased keys: states
        and profiles; event ids for format 1 (format 2's events are filtered on reading)."""
        for kind, keys in ((b"R", relationships), (b"P", relationships), (b"S", seen)):
            for owner, second in keys:
                key = kind + f"{owner}{SEP}{second}".encode()
                p = partition_of(owner, self._partitions)
                self._appender.append(key, None, p)
        self._producer.flush()


def empty_partitions(
    consumer: KafkaConsumer, partitions: set[TopicPartition]
) -> set[TopicPartition]:
    """The partitions whose log end is 0; none when the broker does not answer in time."""
    if not partitions:
        return set()
    try:
        ends = consumer.end_offsets(list(partitions), timeout_ms=END_OFFSETS_TIMEOUT_MS)
    except KafkaTimeoutError:
        return set()
    return {tp for tp, end in ends.items() if end == 0}


def restore(
    bootstrap: str,
    topic: str,
    partitions: list[int],
    stall_timeout_s: float = 120.0,
    erased: Erased | None = None,
    **client: Any,
) -> dict[int, RestoredPartition]:
    """Read changelog partitions from their beginning to their end, with one consumer;
    `erased`: the erasure tombstones' filter (events it matches are left out).

    Fails only when no record arrives for `stall_timeout_s`: a large partition on a
    busy machine may take many minutes, and a limit on the total time made such a
    restore fail, restart and fail again."""
    results = {p: RestoredPartition(p) for p in partitions}
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="vinculo-scoring-restore",
        enable_auto_commit=False,
        max_poll_records=10_000,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        **client,
    )
    rows: dict[int, dict[RelationshipKey, tuple[int, bytes]]] = {p: {} for p in partitions}
    try:
        existing = consumer.partitions_for_topic(topic) or set()
        pending = {TopicPartition(topic, p) for p in partitions if p in existing}
        # An empty partition is done without a fetch: the broker would hold that fetch
        # for its wait time (0.5 s) before its answer said "empty", and a newcomer's
        # partitions are often empty. Any record moves the end above 0 on every broker
        # (the embedded one answers the last batch's base offset + 1). Ends not known in
        # time (a partition the broker lost) are found by fetching, as before.
        pending -= empty_partitions(consumer, pending)
        if not pending:
            return results  # no changelog (yet), or nothing in it: nothing to restore
        consumer.assign(list(pending))
        consumer.seek_to_beginning(*pending)
        deadline = time.monotonic() + stall_timeout_s
        while pending:
            for tp, records in consumer.poll(timeout_ms=RESTORE_POLL_MS).items():
                deadline = time.monotonic() + stall_timeout_s
                for record in records:
                    read_record(record, results[tp.partition], rows[tp.partition], erased)
            # The end is the high watermark a fetch reports: some brokers (the embedded
            # one) answer ListOffsets with the last batch's base offset instead.
            for tp in list(pending):
                if reached(consumer, tp, consumer.highwater(tp)):
                    pending.discard(tp)
                    consumer.pause(tp)
            if pending and time.monotonic() > deadline:
                raise TimeoutError(
                    f"changelog partitions {sorted(tp.partition for tp in pending)}: "
                    f"restore read nothing for {stall_timeout_s} s before reaching the end"
                )
    finally:
        consumer.close()
    for p, found in rows.items():
        if found:
            keys = list(found)
            states = decode_states([found[k][1] for k in keys])
            results[p].states = {k: (found[k][0], states[i]) for i, k in enumerate(keys)}
    return results
