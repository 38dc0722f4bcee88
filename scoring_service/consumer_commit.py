"""Commits and offsets of the consumer thread (scoring_service/consumer.py).

Decision 2 (docs/decisions/): a consumed batch becomes durable in this order: its
dead letters are acknowledged by the broker, its changes are written to the
changelog (when the group keeps one: never behind the store), then its states,
seen event ids and input offsets go into the store in one SQLite transaction.
The store's offsets are the truth: a newly assigned partition resumes at them
(`seek_to_stored`); the group's offsets in Kafka are committed afterwards for
information only (`commit_to_kafka`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import numpy as np
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from scoring_service.batch_histogram import BatchHistogram
from scoring_service.dead_letters import DeadLetterSender
from scoring_service.routing.changelog import ChangelogWriter
from scoring_service.store import Batch, StateStore
from vinculo.kafka_positions import known_position
from vinculo.topics import INTERACTIONS_TOPIC

log = logging.getLogger(__name__)


class Pending:
    """What was processed since the last durable commit: how many records, and the
    Kafka timestamps of those records (the freshness histogram's start points)."""

    def __init__(self) -> None:
        self.records = 0
        self._appended_ms: list[int] = []

    def add(self, appended_ms: Iterable[int], records: int) -> None:
        self._appended_ms.extend(appended_ms)
        self.records += records

    def clear(self) -> None:
        self.records = 0
        self._appended_ms.clear()

    def committed(self, freshness: BatchHistogram) -> int:
        """The records are durable and visible now: observe each one's time from append
        to here (all at once); returns how many records were committed and clears."""
        appended = np.array(self._appended_ms, dtype=np.float64)
        freshness.observe_all(np.maximum(time.time() * 1000 - appended, 0.0) / 1000)
        records = self.records
        self.clear()
        return records


def unfetched(consumer: KafkaConsumer) -> int | None:
    """Records fetched by no poll yet (None while a partition's end is unknown).

    Only to decide when to commit (at once when 0: caught up); the lag gauges come
    from the LagMonitor, which asks the broker, so a stalled consumer cannot hide its lag.
    """
    total = 0
    for tp in consumer.assignment():
        high, position = consumer.highwater(tp), known_position(consumer, tp)
        if high is None or position is None:  # position: None while a reset is pending
            return None
        total += max(high - position, 0)
    return total


def make_durable(
    batch: Batch,
    store: StateStore,
    dead_letters: DeadLetterSender | None,
    changelog: ChangelogWriter | None,
) -> None:
    """Dead letters acked, the changelog written, then state + offsets in one transaction.

    Raises what `StateStore.commit` raises (SeenBefore; sqlite3.OperationalError when
    the store cannot be written), with nothing of the batch in the store then."""
    if dead_letters is not None:
        dead_letters.flush()
    if changelog is not None:  # never behind the store (routing/changelog.py)
        stored = store.stored_profiles(batch.profiles) if batch.profiles else {}
        changelog.write(batch, store.log_id(), stored)
    store.commit(batch)


def seek_to_stored(
    consumer: KafkaConsumer, store: StateStore, partitions: Iterable[TopicPartition]
) -> None:
    """Resume each partition at the store's offset (its beginning if never consumed)."""
    for tp in partitions:
        offset = store.next_offset(tp.partition)
        if offset is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, offset)


def commit_to_kafka(consumer: KafkaConsumer | None, offsets: dict[int, int]) -> None:
    """The group's offsets in Kafka, for information (lag tools); never waited for."""
    if consumer is None or not offsets:
        return
    committed = {
        TopicPartition(INTERACTIONS_TOPIC, p): OffsetAndMetadata(o, "", -1)
        for p, o in offsets.items()
    }
    consumer.commit_async(committed, callback=_log_kafka_commit)


def _log_kafka_commit(offsets: object, response: object) -> None:
    if isinstance(response, Exception):
        # Informational only (the store holds the real offsets), so not fatal.
        log.info("informational Kafka offset commit failed: %s", response)
