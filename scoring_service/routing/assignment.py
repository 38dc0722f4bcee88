"""What follows a partition assignment: restore gained partitions, then tell the directory.

The rebalance callback runs on kafka-python's IO thread, which must not block on a
request, so it only records the assignment (`assigned`); the consumer's loop then
calls `follow` after its next poll: partitions this store never held are restored
from the changelog (routing/changelog.py), the directory learns the new partitions
and the store's offsets, and `settle_log_ends` gives it each partition's log end
from the first fetch that reports one (the partition serves once caught up).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from scoring_service.metrics import ScoringMetrics
from scoring_service.processor import BatchProcessor
from scoring_service.routing.changelog import RestoredPartition
from scoring_service.routing.changelog import restore as changelog_restore
from scoring_service.routing.directory import PartitionDirectory
from scoring_service.store import StateStore
from vinculo.topics import INTERACTIONS_TOPIC

log = logging.getLogger(__name__)


class AssignmentFollower:
    def __init__(
        self,
        bootstrap: str,
        store: StateStore,
        processor: BatchProcessor,
        metrics: ScoringMetrics,
        directory: PartitionDirectory | None,
        client: dict[str, Any],
    ) -> None:
        self._bootstrap = bootstrap
        self._client = client  # TLS, SASL of the restore's consumer
        self._store = store
        self._processor = processor
        self._metrics = metrics
        self._directory = directory
        self.pending: list[TopicPartition] | None = None  # assigned, not yet followed
        self._unsettled: set[TopicPartition] = set()

    def assigned(self, partitions: list[TopicPartition]) -> None:
        self.pending = list(partitions)

    def follow(
        self, consumer: KafkaConsumer, polled: dict[Any, Any], changelog: str | None
    ) -> dict[Any, Any]:
        """Restore newly assigned partitions this store never held from `changelog`, then
        tell the directory; records polled for a restored partition are dropped (it is
        sought to the restored offset)."""
        assigned = self.pending or []
        restored = self._restore(consumer, assigned, changelog) if changelog else set()
        self._tell_directory(consumer)
        return {tp: records for tp, records in polled.items() if tp.partition not in restored}

    def _restore(
        self, consumer: KafkaConsumer, assigned: list[TopicPartition], changelog: str
    ) -> set[int]:
        """Partitions this store never held come from the changelog (one it held
        before resumes from its own offset: the log since then is enough)."""
        never_held = [tp for tp in assigned if self._store.next_offset(tp.partition) is None]
        if not never_held:
            return set()
        started = time.monotonic()
        partitions = [tp.partition for tp in never_held]
        parts = changelog_restore(
            self._bootstrap, changelog, partitions, erased=self._processor.erased, **self._client
        )
        current_log = topic_id(consumer, INTERACTIONS_TOPIC)
        done: set[int] = set()
        for tp in never_held:
            part = parts[tp.partition]
            if not part.records_read:
                continue
            self._apply_restored(consumer, tp, part, current_log)
            done.add(tp.partition)
        if done:
            self._metrics.relationships.set(self._store.count_relationships())
            log.info(
                "partitions %s restored from the changelog: %d relationships, %d records, "
                "%d bytes in %.2f s",
                sorted(done),
                sum(len(parts[p].states) for p in done),
                sum(parts[p].records_read for p in done),
                sum(parts[p].bytes_read for p in done),
                time.monotonic() - started,
            )
        return done

    def _apply_restored(
        self,
        consumer: KafkaConsumer,
        tp: TopicPartition,
        part: RestoredPartition,
        current_log: str | None,
    ) -> None:
        # Offsets of another log (the topic was re-created) mean nothing: resume at 0.
        same_log = part.log_id is None or part.log_id == current_log
        resume = part.next_offset if same_log else None
        states = {k: state for k, (_, state) in part.states.items()}
        history = part.history()  # events applied, whichever log they came from
        self._store.apply_restored(tp.partition, states, part.durable_seen(), resume, history)
        guard = part.guard()
        if guard is not None and same_log:
            self._processor.guards[tp.partition] = guard
        consumer.seek(tp, resume or 0)

    def _tell_directory(self, consumer: KafkaConsumer) -> None:
        """The newly assigned partitions and the store's offsets; each one's log end is
        learnt from the fetches (`settle_log_ends`): it serves once caught up."""
        assigned, self.pending = self.pending, None
        if self._directory is None or assigned is None:
            return
        stored = {tp.partition: self._store.next_offset(tp.partition) or 0 for tp in assigned}
        count = len(consumer.partitions_for_topic(INTERACTIONS_TOPIC) or ())
        if count and count != self._directory.partitions:
            # Seen on the embedded broker: a topic it lost is re-created by the first
            # client that asks about it, with the broker's own count (4).
            log.warning(
                "topic %s now has %d partitions, not %d: owners are placed by the new count",
                INTERACTIONS_TOPIC,
                count,
                self._directory.partitions,
            )
        self._directory.partitions_assigned(stored, count or None)
        self._unsettled = set(assigned)

    @property
    def settling(self) -> bool:
        """Assigned partitions not yet followed, or without their log end yet."""
        return self.pending is not None or bool(self._unsettled)

    def settle_log_ends(self, consumer: KafkaConsumer) -> None:
        """The high watermark of the first fetch of each newly assigned partition is the
        offset to reach before serving it (ListOffsets is not used: the embedded broker
        answers it with the last batch's base offset)."""
        if self._directory is None or not self._unsettled:
            return
        for tp in list(self._unsettled):
            high = consumer.highwater(tp)
            if high is not None:
                self._directory.log_end(tp.partition, high)
                self._unsettled.discard(tp)


def topic_id(consumer: KafkaConsumer, topic: str) -> str | None:
    """The topic's id (KIP-516) from the metadata the consumer already has, if any.

    kafka-python keeps it in its cluster metadata without a public accessor;
    a version without it makes this check a no-op (the high-watermark check
    in the loop still catches a shrunken log).
    """
    cluster = getattr(getattr(consumer, "_client", None), "cluster", None)
    find = getattr(cluster, "topic_id", None)
    value = find(topic) if callable(find) else None
    return None if value is None else str(value)
