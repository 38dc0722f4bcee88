"""The consumer thread: interaction records in, durable state and dead letters out.

Commit policy (decision 2 (docs/decisions/)): records of a whole poll are processed
into an in-memory batch; every `commit_interval_s` at most, as soon as the
consumer has caught up (a poll returned nothing or no lag is left), on
partition revocation and on shutdown the batch's dead letters are flushed to
the broker, then its states, seen event ids and offsets are written in one
SQLite transaction. Under load the lag is rarely 0, so batches stay large;
a lone event is visible one fetch after it arrived.
Kafka's group offsets are committed afterwards for information only: on
assignment every partition is sought to the offset in the store.

Lost logs: the embedded broker keeps everything in memory, so a broker restart
empties every partition while the store still holds offsets beyond the new
log's end. Two checks, both re-reading the partition from its beginning
(harmless: events already applied are skipped by their ids):
- on assignment, the topic's id (KIP-516) is compared with the one stored
  with the offsets; a re-created topic has a new id, even if it already holds
  more records than the stored offsets (broker restarted while we were down);
- after each fetch, a position beyond the partition's high watermark. Tansu
  answers a fetch at such an offset with no records and no OFFSET_OUT_OF_RANGE
  (measured), so kafka-python's auto reset never fires. Apache Kafka does
  return OFFSET_OUT_OF_RANGE, and `auto_offset_reset='earliest'` does the same.
Tansu also creates a missing topic on any metadata request, ignoring
allow_auto_create_topics=False, with its default of 4 partitions (measured);
the services create their topics with the configured count first.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from scoring_service.erasure.eraser import Eraser
from scoring_service.metrics import ScoringMetrics
from scoring_service.processor import BatchProcessor, DeadLetter, Outcome
from scoring_service.routing.assignor import RoutingAssignor
from scoring_service.routing.changelog import ChangelogWriter, RestoredPartition
from scoring_service.routing.changelog import restore as changelog_restore
from scoring_service.routing.directory import PartitionDirectory
from scoring_service.settings import ScoringSettings
from scoring_service.store import Batch, SeenBefore, StateStore, cannot_write
from scoring_service.watch import WatchHub
from vinculo.security.kafka import kafka_client_config
from vinculo.topics import (
    DEAD_LETTER_TOPIC,
    INTERACTIONS_TOPIC,
    changelog_topic,
    check_partitions,
    dead_letter_headers,
    ensure_topics,
    recreate_if_misshapen,
)

log = logging.getLogger(__name__)

# Poll long while nothing is pending (idle CPU: each poll round sends fetches),
# otherwise only until the next commit is due.
IDLE_POLL_TIMEOUT_MS = 1000
# Tansu holds a fetch with no new data until this wait expires (~225 ms of the
# default 500 were measured before a new record was returned); 200 ms keeps an
# idle consumer at ~5 fetches a second per broker.
FETCH_MAX_WAIT_MS = 200
# While no partition is assigned (topic missing, e.g. after a broker restart),
# try to create the topics this often.
TOPIC_CHECK_INTERVAL_S = 3.0
CONNECT_RETRY_S = 1.0
MAX_CONNECT_RETRY_S = 10.0
CLOSE_TIMEOUT_S = 5
STORE_RETRY_S = 2.0
TOMBSTONE_WAIT_S = 30.0


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: ScoringConsumer) -> None:
        self._owner = owner

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self._owner.on_revoked(list(revoked))

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._owner.on_assigned(list(assigned))


class ScoringConsumer:
    """Runs in its own thread; `stop()` makes it commit, leave the group and end."""

    def __init__(
        self,
        settings: ScoringSettings,
        store: StateStore,
        metrics: ScoringMetrics,
        hub: WatchHub,
        directory: PartitionDirectory | None = None,
        eraser: Eraser | None = None,
    ) -> None:
        self._settings = settings
        # Every Kafka client of this consumer connects the same way (TLS, SASL).
        self._security = settings.kafka_security()
        self._kafka = kafka_client_config(self._security)
        self._directory = directory
        self._store = store
        self._metrics = metrics
        self._hub = hub
        self._processor = BatchProcessor(store)
        self._eraser = eraser
        if eraser is not None:
            self._processor.erased = eraser.known.erased
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scoring-consumer", daemon=True)
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        self._dlq_futures: list[Any] = []
        # Partitions this instance consumes (replaced, never mutated: read by other threads).
        self.assigned: frozenset[int] = frozenset()
        self._appended_ms: list[int] = []  # Kafka timestamps of records not yet committed
        self._routing_pending: list[TopicPartition] | None = None
        self._changelog: ChangelogWriter | None = None
        self._unsettled: set[TopicPartition] = set()
        self._last_commit = time.monotonic()
        self._uncommitted = 0  # records processed since the last durable commit
        self.error: BaseException | None = None
        self.store_writable = True  # False while paused on a store that cannot be written
        self._paused_since: float | None = None

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise TimeoutError(f"consumer thread did not stop within {timeout_s} s")

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while self._connect():
                try:
                    self._loop()
                    # Only after a clean stop: after an error the batch may hold a
                    # half-applied event; the stored offsets replay it instead.
                    self.commit()
                    return
                except KafkaError as exc:
                    # The broker went away (or refused a dead letter): nothing of the
                    # batch is durable yet, so it is dropped and consumed again from
                    # the stored offsets once a new connection is assigned partitions.
                    log.warning("lost the broker (%s): reconnecting", exc)
                    self._drop_uncommitted()
                finally:
                    self._close()
        except BaseException as exc:
            self.error = exc
            log.exception("consumer stopped on an error")
            raise

    def _connect(self) -> bool:
        """Topics, consumer, producer; retried with backoff until the broker answers or stop()."""
        settings = self._settings
        delay = CONNECT_RETRY_S
        while not self._stop.is_set():
            try:
                changelog = changelog_topic(settings.consumer_group)
                ensure_topics(
                    settings.kafka_bootstrap,
                    settings.partitions,
                    extra_compacted=(changelog,) if settings.changelog else (),
                    security=self._security,
                )
                check_partitions(
                    settings.kafka_bootstrap,
                    (INTERACTIONS_TOPIC, changelog)
                    if settings.changelog
                    else (INTERACTIONS_TOPIC,),
                    settings.partitions,
                    self._security,
                )
                self._producer = KafkaProducer(
                    bootstrap_servers=settings.kafka_bootstrap,
                    client_id="vinculo-scoring-dlq",
                    acks="all",
                    linger_ms=5,
                    **self._kafka,
                )
                if settings.changelog:
                    self._changelog = ChangelogWriter(
                        settings.kafka_bootstrap, changelog, settings.partitions, **self._kafka
                    )
                self._wait_for_tombstones()
                self._consumer = self._new_consumer()
                return True
            except KafkaError as exc:
                log.warning(
                    "Kafka at %s not ready (%s); retrying in %.0f s",
                    settings.kafka_bootstrap,
                    exc,
                    delay,
                )
                self._close()
                self._stop.wait(delay)
                delay = min(delay * 2, MAX_CONNECT_RETRY_S)
        return False

    def _wait_for_tombstones(self) -> None:
        """Known tombstones first (scoring_service/erasure/), bounded: a broker without
        the topic's leader must not stop consumption for good."""
        if self._eraser is None or self._eraser.caught_up.is_set():
            return
        if not self._eraser.caught_up.wait(TOMBSTONE_WAIT_S):
            log.warning(
                "tombstone topic not read within %.0f s: consuming anyway", TOMBSTONE_WAIT_S
            )

    def _drop_uncommitted(self) -> None:
        """Forget what is not durable: the stored offsets bring it back."""
        self._processor.take_batch()
        self._uncommitted = 0
        self._appended_ms.clear()
        self._dlq_futures.clear()

    def _new_consumer(self) -> KafkaConsumer:
        settings = self._settings
        consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=settings.consumer_group,
            client_id="vinculo-scoring",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # The group joins in ~3 s on the embedded broker instead of ~23 s (NOTES.md).
            session_timeout_ms=6000,
            heartbeat_interval_ms=2000,
            max_poll_records=settings.max_poll_records,
            # Topics are created by the services with the configured partition
            # count, never implicitly by a metadata request with the broker's default.
            allow_auto_create_topics=False,
            metadata_max_age_ms=5000,  # notice a re-created topic within seconds
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            **self._routing_options(),
            **self._kafka,
        )
        consumer.subscribe([INTERACTIONS_TOPIC], listener=_Rebalance(self))
        return consumer

    def _routing_options(self) -> dict[str, Any]:
        """Every member advertises its gRPC address through the group join (routing/)."""
        directory = self._directory
        if directory is None:
            return {}
        assignor = RoutingAssignor(
            INTERACTIONS_TOPIC, directory.own_address, directory.routes_assigned
        )
        return {"partition_assignment_strategy": [assignor]}

    def _close(self) -> None:
        consumer, self._consumer = self._consumer, None
        producer, self._producer = self._producer, None
        self.assigned = frozenset()
        # Bounded: with the broker gone, leaving the group or flushing would wait
        # for a request timeout (minutes) before reconnecting.
        if consumer is not None:
            consumer.close(timeout_ms=CLOSE_TIMEOUT_S * 1000)  # leaves the group
        if producer is not None:
            producer.close(timeout=CLOSE_TIMEOUT_S)
        changelog, self._changelog = self._changelog, None
        if changelog is not None:
            changelog.close()  # its writes wait for acks: nothing is left unsent

    # --- the loop --------------------------------------------------------------

    def _loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        last_topic_check = time.monotonic()
        while not self._stop.is_set():
            polled = consumer.poll(timeout_ms=self._poll_timeout_ms())
            if self._routing_pending is not None:
                polled = self._after_assignment(consumer, polled)
            if polled:
                # One call for the whole poll: the state lookup and the fold are per
                # call, and each partition's records keep their order.
                self._process([record for records in polled.values() for record in records])
            if self._eraser is not None and self._eraser.has_pending():
                self._erase()
            self._check_log_ends(consumer)
            self._settle_log_ends(consumer)
            lag = self._fetch_lag(consumer)
            now = time.monotonic()
            # Commit when due, and at once when caught up (nothing more fetched, or
            # no lag left): a lone event is then visible one fetch after it arrived,
            # while under load the lag is rarely 0 and batches stay large.
            caught_up = not polled or lag == 0
            if now - self._last_commit >= self._settings.commit_interval_s or (
                caught_up and self._processor.batch
            ):
                self.commit()
            if self._paused_since is not None:
                self._resume_if_writable(consumer)
            if not consumer.assignment() and now - last_topic_check >= TOPIC_CHECK_INTERVAL_S:
                last_topic_check = now
                self._recreate_missing_topic(consumer)

    def _erase(self) -> None:
        """Commit what was consumed so far, then apply the queued tombstones."""
        assert self._eraser is not None
        self.commit()
        erased = self._eraser.apply_pending()
        if self._changelog is not None and erased.relationships + erased.seen:
            self._changelog.forget(erased.relationships, erased.seen)
        self._metrics.relationships.dec(len(erased.relationships))

    def _poll_timeout_ms(self) -> int:
        if not self._processor.batch:
            return IDLE_POLL_TIMEOUT_MS
        due_in = self._last_commit + self._settings.commit_interval_s - time.monotonic()
        return max(0, min(IDLE_POLL_TIMEOUT_MS, round(due_in * 1000)))

    def _recreate_missing_topic(self, consumer: KafkaConsumer) -> None:
        # Only when the topic is really gone (a broker that lost its data): an
        # admin round trip while the group is joining delays the join from ~3 s
        # to ~20 s on the embedded broker (measured).
        if consumer.partitions_for_topic(INTERACTIONS_TOPIC) is None:
            log.warning("topic %s is missing: creating it", INTERACTIONS_TOPIC)
            ensure_topics(
                self._settings.kafka_bootstrap, self._settings.partitions, security=self._security
            )

    def _process(self, records: list[Any]) -> None:
        outcomes, dead = self._processor.process(records)
        self._appended_ms.extend(record.timestamp for record in records)
        self._uncommitted += len(outcomes)
        self._metrics.consumed.inc(len(outcomes))
        self._metrics.applied.inc(outcomes.count(Outcome.APPLIED))
        self._metrics.duplicates.inc(outcomes.count(Outcome.DUPLICATE))
        for letter in dead:
            self._send_dead_letter(letter)

    def _send_dead_letter(self, letter: DeadLetter) -> None:
        assert self._producer is not None
        log.warning(
            "dead-lettering partition %d offset %d: %s",
            letter.partition,
            letter.offset,
            letter.reason.message,
        )
        future = self._producer.send(
            DEAD_LETTER_TOPIC,
            key=letter.key,
            value=letter.value,
            headers=dead_letter_headers(
                letter.reason, INTERACTIONS_TOPIC, letter.partition, letter.offset
            ),
        )
        self._dlq_futures.append(future)
        self._metrics.dead_lettered.labels(letter.reason.code).inc()

    def _check_log_ends(self, consumer: KafkaConsumer) -> None:
        lost: list[int] = []
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue  # no fetch answered yet for this partition
            position = consumer.position(tp)
            if position is not None and position > high:
                log.warning(
                    "partition %d: stored offset %d is beyond the log end %d (the broker lost "
                    "its log); consuming it again from the beginning",
                    tp.partition,
                    position,
                    high,
                )
                self._metrics.log_resets.inc()
                consumer.seek_to_beginning(tp)
                lost.append(tp.partition)
        if lost:
            # The stored offsets point into the lost log too: a later assignment must not
            # seek back to them (a refilled log shorter than them would be skipped).
            for partition in lost:
                self._processor.batch.offsets.pop(partition, None)
            self._store.forget_offsets(lost)
            self._renew_changelog()

    def _fetch_lag(self, consumer: KafkaConsumer) -> int | None:
        """Records fetched by no poll yet (None while a partition's end is unknown).

        Only to decide when to commit; the lag gauges come from the LagMonitor,
        which asks the broker, so a stalled consumer cannot hide its lag.
        """
        total = 0
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                return None
            total += max(high - consumer.position(tp), 0)
        return total

    # --- commits and rebalances --------------------------------------------------

    def commit(self) -> None:
        """Make the current batch durable: dead letters acked, then state + offsets."""
        self._last_commit = time.monotonic()
        batch = self._processor.take_batch()
        if not batch:
            return
        with self._metrics.commit_duration.time():
            self._flush_dead_letters()
            if self._changelog is not None:  # never behind the store (routing/changelog.py)
                self._changelog.write(batch, self._store.log_id())
            try:
                self._store.commit(batch)
            except SeenBefore:
                self._replay_strictly(batch)
                return
            except sqlite3.OperationalError as exc:
                if not cannot_write(exc):
                    raise
                self._pause_unwritable(exc)
                return
        self._processor.strict = False
        self._metrics.committed.inc(self._uncommitted)
        self._uncommitted = 0
        self._observe_freshness()
        self._metrics.relationships.inc(batch.new_relationships)
        if self._directory is not None:
            self._directory.committed(batch.offsets)
        self._commit_to_kafka(batch)
        self._hub.publish(batch, time.time())

    def _pause_unwritable(self, exc: sqlite3.OperationalError) -> None:
        """The store cannot be written (disk full): stop consuming, keep the group.

        Nothing of the batch was written; it is consumed again from the stored
        offsets once a probe write succeeds. Reads go on serving committed state.
        """
        consumer = self._consumer
        assert consumer is not None
        log.error(
            "state store %s cannot be written (%s): consumption paused, retried every %.0f s; "
            "free space on its disk or end what locks it (nothing is lost: the records stay "
            "in the log)",
            self._store.path,
            exc,
            STORE_RETRY_S,
        )
        self._drop_uncommitted()
        self._metrics.store_writable.set(0)
        self.store_writable = False
        self._paused_since = time.monotonic()
        assigned = list(consumer.assignment())
        self._seek_to_stored(assigned)
        consumer.pause(*assigned)

    def _resume_if_writable(self, consumer: KafkaConsumer) -> None:
        assert self._paused_since is not None
        if time.monotonic() - self._paused_since < STORE_RETRY_S:
            return
        if not self._store.probe_write():
            self._paused_since = time.monotonic()
            return
        log.info("state store %s can be written again: consuming", self._store.path)
        self._paused_since = None
        self.store_writable = True
        self._metrics.store_writable.set(1)
        consumer.resume(*consumer.paused())

    def _observe_freshness(self) -> None:
        now_ms = time.time() * 1000
        observe = self._metrics.freshness.observe
        for appended in self._appended_ms:
            observe(max(now_ms - appended, 0.0) / 1000)
        self._appended_ms.clear()

    def _replay_strictly(self, batch: Batch) -> None:
        """Consume the refused batch's records again, every event id looked up.

        Its dead letters were already sent; replaying sends them again (the
        dead-letter topic is at least once, like every topic here).
        """
        log.warning("an event id was reused with a newer time: replaying the batch strictly")
        self._metrics.replays.inc()
        self._uncommitted = 0
        self._appended_ms.clear()
        self._processor.strict = True
        self._seek_to_stored([TopicPartition(INTERACTIONS_TOPIC, p) for p in batch.offsets])

    def _seek_to_stored(self, partitions: list[TopicPartition]) -> None:
        """Resume each partition at the store's offset (its beginning if never consumed)."""
        consumer = self._consumer
        assert consumer is not None
        for tp in partitions:
            offset = self._store.next_offset(tp.partition)
            if offset is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)

    def _flush_dead_letters(self) -> None:
        if not self._dlq_futures:
            return
        assert self._producer is not None
        self._producer.flush()
        futures, self._dlq_futures = self._dlq_futures, []
        for future in futures:
            # Raises when the broker refused a dead letter: the batch is then not
            # committed, and the records are consumed again after a restart.
            future.get(timeout=0)

    def _commit_to_kafka(self, batch: Batch) -> None:
        consumer = self._consumer
        if consumer is None or not batch.offsets:
            return
        offsets = {
            TopicPartition(INTERACTIONS_TOPIC, p): OffsetAndMetadata(o, "", -1)
            for p, o in batch.offsets.items()
        }
        consumer.commit_async(offsets, callback=_log_kafka_commit)

    def _check_log_identity(self, consumer: KafkaConsumer) -> None:
        """A re-created topic has a new id: stored offsets then refer to a log that is gone.

        Catches what the high-watermark check cannot: a broker that lost its
        log while this service was down, then received more records than the
        stored offsets, would otherwise be resumed in the middle.
        """
        current = _topic_id(consumer, INTERACTIONS_TOPIC)
        stored = self._store.log_id()
        if current is None or current == stored:
            return
        if stored is not None:
            log.warning(
                "topic %s was re-created (id %s, stored offsets were for %s): consuming it from "
                "the beginning; events already applied are skipped by their ids",
                INTERACTIONS_TOPIC,
                current,
                stored,
            )
            self._metrics.log_resets.inc()
        self._store.start_new_log(current)
        if stored is not None:
            self._renew_changelog()

    def on_revoked(self, revoked: list[TopicPartition]) -> None:
        # Whoever gets these partitions next reads the store's offsets: write them now.
        self.commit()
        self.assigned = self.assigned - {tp.partition for tp in revoked}
        if self._directory is not None:
            self._directory.rebalance_started()
        log.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))

    def on_assigned(self, assigned: list[TopicPartition]) -> None:
        consumer = self._consumer
        assert consumer is not None
        self._check_log_identity(consumer)
        self._seek_to_stored(assigned)
        self.assigned = self.assigned | {tp.partition for tp in assigned}
        # The log ends are asked from the loop: a rebalance callback runs on kafka-python's
        # IO thread, which must not block on a request.
        self._routing_pending = list(assigned)
        log.info("partitions assigned: %s", sorted(tp.partition for tp in assigned))

    def _renew_changelog(self) -> None:
        """The broker lost its log, and the changelog with it: give it back its shape
        (the broker may have re-created it with its default count) and a new producer."""
        if self._changelog is None:
            return
        settings = self._settings
        if recreate_if_misshapen(
            settings.kafka_bootstrap, self._changelog.topic, settings.partitions, self._security
        ):
            self._changelog.close()
            self._changelog = ChangelogWriter(
                settings.kafka_bootstrap, self._changelog.topic, settings.partitions, **self._kafka
            )

    def _after_assignment(self, consumer: KafkaConsumer, polled: dict[Any, Any]) -> dict[Any, Any]:
        """Restore newly assigned partitions this store never held from the changelog, then
        tell the directory; records polled for a restored partition are dropped (it is
        sought to the restored offset)."""
        assigned = self._routing_pending or []
        restored = self._restore(consumer, assigned) if self._changelog is not None else set()
        self._tell_directory(consumer)
        return {tp: records for tp, records in polled.items() if tp.partition not in restored}

    def _restore(self, consumer: KafkaConsumer, assigned: list[TopicPartition]) -> set[int]:
        """Partitions this store never held come from the changelog (one it held
        before resumes from its own offset: the log since then is enough)."""
        never_held = [tp for tp in assigned if self._store.next_offset(tp.partition) is None]
        if not never_held or self._changelog is None:
            return set()
        started = time.monotonic()
        parts = changelog_restore(
            self._settings.kafka_bootstrap,
            self._changelog.topic,
            [tp.partition for tp in never_held],
            **self._kafka,
        )
        current_log = _topic_id(consumer, INTERACTIONS_TOPIC)
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
        self._store.apply_restored(tp.partition, states, part.durable_seen(), resume)
        guard = part.guard()
        if guard is not None and same_log:
            self._processor.guards[tp.partition] = guard
        consumer.seek(tp, resume or 0)

    def _tell_directory(self, consumer: KafkaConsumer) -> None:
        """The newly assigned partitions and the store's offsets; each one's log end is
        learnt from the fetches (`_settle_log_ends`): it serves once caught up."""
        assigned, self._routing_pending = self._routing_pending, None
        if self._directory is None or assigned is None:
            return
        stored = {tp.partition: self._store.next_offset(tp.partition) or 0 for tp in assigned}
        count = len(consumer.partitions_for_topic(INTERACTIONS_TOPIC) or ())
        self._directory.partitions_assigned(stored, count or None)
        self._unsettled = set(assigned)

    def _settle_log_ends(self, consumer: KafkaConsumer) -> None:
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


def _topic_id(consumer: KafkaConsumer, topic: str) -> str | None:
    """The topic's id (KIP-516) from the metadata the consumer already has, if any.

    kafka-python keeps it in its cluster metadata without a public accessor;
    a version without it makes this check a no-op (the high-watermark check
    in the loop still catches a shrunken log).
    """
    cluster = getattr(getattr(consumer, "_client", None), "cluster", None)
    topic_id = getattr(cluster, "topic_id", None)
    value = topic_id(topic) if callable(topic_id) else None
    return None if value is None else str(value)


def _log_kafka_commit(offsets: object, response: object) -> None:
    if isinstance(response, Exception):
        # Informational only (the store holds the real offsets), so not fatal.
        log.info("informational Kafka offset commit failed: %s", response)
