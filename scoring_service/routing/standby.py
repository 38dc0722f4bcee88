"""Standby replicas: warm copies of other instances' partitions (Kafka Streams'
`num.standby.replicas`), so that a failover resumes from a recent offset instead of
restoring the whole partition from the changelog.

With `VINCULO_SCORING_STANDBY_REPLICAS` = n, the instances that follow a partition's
holder in the group's address table (sorted, as a ring) keep a copy of it: the n
next ones. Every member computes the same table from the assignment, so no extra
coordination. A standby copy is the holder's changelog partition applied to the
local store, batch by batch: records are buffered until the batch's `M` marker, and
everything up to the last marker of a poll is written in one transaction, with the
marker's input offset as the partition's stored offset. When the partition is
assigned here, the consumer finds that offset (it does not restore a partition it
has an offset for) and consumes the interaction log from there: what the standby
was behind by, not the whole partition.

Runs on the consumer's thread (one writer of the store): `poll` is called from the
consumer loop and never waits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from scoring_service.codec import decode_states
from scoring_service.routing.changelog_format import (
    Erased,
    RestoredPartition,
    is_batch_end,
    read_record,
)
from scoring_service.routing.directory import PartitionDirectory
from scoring_service.settings import ScoringSettings
from scoring_service.store import RelationshipKey, StateStore

log = logging.getLogger(__name__)

MAX_RECORDS_PER_POLL = 5000


def standby_partitions(routes: dict[int, str], own: str, replicas: int) -> set[int]:
    """The partitions held elsewhere that `own` keeps a copy of: for each, the
    `replicas` members after its holder in the sorted ring of addresses."""
    members = sorted(set(routes.values()) | {own})
    if replicas < 1 or len(members) < 2:
        return set()
    wanted: set[int] = set()
    for partition, holder in routes.items():
        if holder == own or holder not in members:
            continue
        start = members.index(holder)
        followers = [members[(start + i) % len(members)] for i in range(1, replicas + 1)]
        if own in followers:
            wanted.add(partition)
    return wanted


@dataclass
class _Buffer:
    """One changelog partition's records since the last applied marker."""

    complete: RestoredPartition
    complete_rows: dict[RelationshipKey, tuple[int, bytes]] = field(default_factory=dict)
    partial: RestoredPartition | None = None
    partial_rows: dict[RelationshipKey, tuple[int, bytes]] = field(default_factory=dict)

    def read(self, record: Any, erased: Erased | None) -> None:
        if self.partial is None:
            self.partial = RestoredPartition(self.complete.partition)
        read_record(record, self.partial, self.partial_rows, erased)
        if is_batch_end(record.key):  # the batch is whole: it joins what is applied next
            done, self.partial = self.partial, None
            self.complete.seen.update(done.seen)
            self.complete.events.update(done.events)
            self.complete.profiles.update(done.profiles)
            self.complete.next_offset = done.next_offset
            self.complete.log_id = done.log_id
            self.complete.records_read += done.records_read
            self.complete_rows.update(self.partial_rows)
            self.partial_rows = {}


class StandbyReplicas:
    def __init__(
        self,
        bootstrap: str,
        changelog: str,
        store: StateStore,
        directory: PartitionDirectory,
        replicas: int,
        **client: Any,
    ) -> None:
        self._changelog = changelog
        self._store = store
        self._directory = directory
        self._replicas = replicas
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id="vinculo-scoring-standby",
            enable_auto_commit=False,
            fetch_max_bytes=16 * 1024 * 1024,
            **client,
        )
        self._seen_state: tuple[int, frozenset[int]] | None = None
        self.partitions: frozenset[int] = frozenset()
        self._buffers: dict[int, _Buffer] = {}
        self.batches_applied = 0
        # The erasure tombstones' filter (scoring_service/erasure/), set by the consumer.
        self.erased: Erased | None = None

    def close(self) -> None:
        self._consumer.close()

    def poll(self, held: frozenset[int]) -> None:
        """Follow the assignment, then apply what the changelog has (never blocks)."""
        generation, routes, _, _ = self._directory.snapshot()
        if (generation, held) != self._seen_state:
            self._seen_state = (generation, held)
            own = self._directory.own_address
            self._follow(frozenset(standby_partitions(routes, own, self._replicas) - held))
        if not self.partitions:
            return
        polled = self._consumer.poll(timeout_ms=0, max_records=MAX_RECORDS_PER_POLL)
        for tp, records in polled.items():
            buffer = self._buffers[tp.partition]
            for record in records:
                buffer.read(record, self.erased)
        for partition in {tp.partition for tp in polled}:
            self._apply(partition)

    def _follow(self, wanted: frozenset[int]) -> None:
        if wanted == self.partitions:
            return
        log.info("standby copies of partitions %s", sorted(wanted))
        self.partitions = wanted
        self._buffers = {p: _Buffer(RestoredPartition(p)) for p in wanted}
        tps = [TopicPartition(self._changelog, p) for p in sorted(wanted)]
        self._consumer.assign(tps)
        if tps:
            # From the beginning: batches the store already has are skipped by offset.
            self._consumer.seek_to_beginning(*tps)

    def _apply(self, partition: int) -> None:
        buffer = self._buffers[partition]
        part, rows = buffer.complete, buffer.complete_rows
        buffer.complete, buffer.complete_rows = RestoredPartition(partition), {}
        stored = self._store.next_offset(partition)
        if part.next_offset is None or (stored is not None and part.next_offset <= stored):
            return  # nothing whole yet, or the store has it already
        if stored is not None:  # only the batches past the store's offset
            part.seen = {k: v for k, v in part.seen.items() if v[0] > stored}
            rows = {k: v for k, v in rows.items() if v[0] > stored}
        keys = list(rows)
        states = dict(zip(keys, decode_states([rows[k][1] for k in keys]), strict=True))
        seen = {k: t for k, (_, t) in part.seen.items()}
        self._store.apply_standby(partition, states, seen, part.next_offset, part.history())
        self.batches_applied += 1


def new_standby(
    settings: ScoringSettings,
    changelog: str,
    store: StateStore,
    directory: PartitionDirectory | None,
    client: dict[str, Any],
) -> StandbyReplicas | None:
    """Standby copies when the settings ask for them (and instances route to each other)."""
    if settings.standby_replicas < 1 or directory is None:
        return None
    return StandbyReplicas(
        settings.kafka_bootstrap, changelog, store, directory, settings.standby_replicas, **client
    )
