"""Lost logs: the broker emptied a partition the store holds offsets for.

The embedded broker keeps everything in memory, so a broker restart empties every
partition while the store still holds offsets beyond the new log's end. Two checks,
both re-reading the partition from its beginning (harmless: events already applied
are skipped by their ids):
- on assignment, the topic's id (KIP-516) is compared with the one stored with the
  offsets (`adopt_log_identity`); a re-created topic has a new id, even if it already
  holds more records than the stored offsets (broker restarted while we were down);
- after each fetch, a position beyond the partition's high watermark
  (`rewind_beyond_log_end`). Tansu answers a fetch at such an offset with no records
  and no OFFSET_OUT_OF_RANGE (measured), so kafka-python's auto reset never fires.
  Apache Kafka does return OFFSET_OUT_OF_RANGE, and `auto_offset_reset='earliest'`
  does the same.

What the consumer then does (scoring_service/consumer.py): the lost partitions' offsets
are dropped from the store and from the batch in memory (`forget_lost_offsets`), the
changelog is given back its shape (`renew_changelog`), and a topic that is gone is
created again (`recreate_missing_topic`).
"""

from __future__ import annotations

import logging
from typing import Any

from kafka import KafkaConsumer

from scoring_service.metrics import ScoringMetrics
from scoring_service.routing.assignment import topic_id
from scoring_service.routing.changelog import ChangelogWriter
from scoring_service.settings import ScoringSettings
from scoring_service.store import Batch, StateStore
from vinculo.kafka_positions import known_position
from vinculo.security.kafka import KafkaSecurity
from vinculo.topics import INTERACTIONS_TOPIC, ensure_topics, recreate_if_misshapen

log = logging.getLogger(__name__)


def rewind_lost_logs(
    consumer: KafkaConsumer, store: StateStore, metrics: ScoringMetrics
) -> tuple[list[int], bool]:
    """After a fetch: the partitions to consume again from their beginning (sought there),
    and whether the topic was re-created (the broker lost every topic, the changelog too,
    even when this happens between a revocation and the next assignment).

    Every assigned partition when the topic's id changed since the stored one: the
    consumer's metadata may learn a re-created topic's id only after the assignment
    (seen: a broker restarted, answered, and got new records within a few seconds,
    before the consumer's next metadata refresh), and a partition whose new log had
    already grown past the stored offset would otherwise be resumed in its middle."""
    # A store without a log id gets one at assignment (`adopt_log_identity` there).
    if store.log_id() is not None and adopt_log_identity(consumer, store, metrics):
        assigned = list(consumer.assignment())
        if assigned:
            consumer.seek_to_beginning(*assigned)
        return [tp.partition for tp in assigned], True
    return rewind_beyond_log_end(consumer, metrics), False


def rewind_beyond_log_end(consumer: KafkaConsumer, metrics: ScoringMetrics) -> list[int]:
    """Seek every partition whose position is past its log end to its beginning; returns them."""
    lost: list[int] = []
    for tp in consumer.assignment():
        high = consumer.highwater(tp)
        if high is None:
            continue  # no fetch answered yet for this partition
        position = known_position(consumer, tp)
        if position is not None and position > high:
            log.warning(
                "partition %d: stored offset %d is beyond the log end %d (the broker lost "
                "its log); consuming it again from the beginning",
                tp.partition,
                position,
                high,
            )
            metrics.log_resets.inc()
            consumer.seek_to_beginning(tp)
            lost.append(tp.partition)
    return lost


def adopt_log_identity(consumer: KafkaConsumer, store: StateStore, metrics: ScoringMetrics) -> bool:
    """A re-created topic has a new id: stored offsets then refer to a log that is gone.

    Catches what the high-watermark check cannot: a broker that lost its log while
    this service was down, then received more records than the stored offsets, would
    otherwise be resumed in the middle. Returns whether a known log was replaced.
    """
    current = topic_id(consumer, INTERACTIONS_TOPIC)
    stored = store.log_id()
    if current is None or current == stored:
        return False
    if stored is not None:
        log.warning(
            "topic %s was re-created (id %s, stored offsets were for %s): consuming it from "
            "the beginning; events already applied are skipped by their ids",
            INTERACTIONS_TOPIC,
            current,
            stored,
        )
        metrics.log_resets.inc()
    store.start_new_log(current)
    return stored is not None


def forget_lost_offsets(lost: list[int], store: StateStore, batch: Batch) -> None:
    """The stored offsets of these partitions point into the lost log too: a later
    assignment must not seek back to them (a refilled log shorter than them would be
    skipped), nor may the batch in memory write them back."""
    for partition in lost:
        batch.offsets.pop(partition, None)
    store.forget_offsets(lost)


def renew_changelog(
    settings: ScoringSettings,
    security: KafkaSecurity,
    changelog: ChangelogWriter,
    client: dict[str, Any],
) -> ChangelogWriter:
    """The broker lost its log, and the changelog with it: give it back its shape (the
    broker may have re-created it with its default count) and a new producer."""
    if not recreate_if_misshapen(
        settings.kafka_bootstrap, changelog.topic, settings.partitions, security
    ):
        return changelog
    changelog.close()
    return ChangelogWriter(settings.kafka_bootstrap, changelog.topic, settings.partitions, **client)


def recreate_missing_topic(
    consumer: KafkaConsumer, settings: ScoringSettings, security: KafkaSecurity
) -> None:
    """Create the interaction topic again when it is really gone (a broker that lost its
    data): an admin round trip while the group is joining delays the join from ~3 s to
    ~20 s on the embedded broker (measured), so only then."""
    if consumer.partitions_for_topic(INTERACTIONS_TOPIC) is None:
        log.warning("topic %s is missing: creating it", INTERACTIONS_TOPIC)
        ensure_topics(
            settings.kafka_bootstrap,
            settings.partitions,
            interaction_retention_ms=settings.interaction_retention_ms,
            security=security,
        )
