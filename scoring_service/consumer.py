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

Split by seam: commits and offsets in scoring_service/consumer_commit.py, lost logs
(a broker that restarted empty) in scoring_service/lost_log.py, the group's rebalance
callbacks in scoring_service/consumer_rebalance.py; this module is the thread, its
connections and its loop. Tansu also creates a missing topic on any metadata request, ignoring
allow_auto_create_topics=False, with its default of 4 partitions (measured);
the services create their topics with the configured count first.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from scoring_service.consumer_commit import (
    Pending,
    commit_to_kafka,
    make_durable,
    seek_to_stored,
    unfetched,
)
from scoring_service.consumer_rebalance import RebalanceListener
from scoring_service.dead_letters import DeadLetterSender
from scoring_service.erasure.eraser import Eraser
from scoring_service.lost_log import (
    adopt_log_identity,
    forget_lost_offsets,
    recreate_missing_topic,
    renew_changelog,
    rewind_lost_logs,
)
from scoring_service.metrics import ScoringMetrics
from scoring_service.processor import BatchProcessor, Outcome
from scoring_service.routing.assignment import AssignmentFollower
from scoring_service.routing.changelog import ChangelogWriter
from scoring_service.routing.directory import PartitionDirectory
from scoring_service.routing.group import join_group
from scoring_service.routing.standby import StandbyReplicas, new_standby
from scoring_service.routing.topic_setup import prepare_topics
from scoring_service.settings import ScoringSettings
from scoring_service.store import Batch, SeenBefore, StateStore, cannot_write
from scoring_service.watch import WatchHub
from scoring_service.write_pause import WritePause
from vinculo.security.kafka import kafka_client_config
from vinculo.topics import INTERACTIONS_TOPIC

log = logging.getLogger(__name__)

# Poll long while nothing is pending (idle CPU: each poll round sends fetches),
# otherwise only until the next commit is due.
IDLE_POLL_TIMEOUT_MS = 1000
# ... but short while joining and until new partitions serve: a failover's or a start's
# partitions are restored and served as soon as they can be, not up to a second later.
SETTLING_POLL_TIMEOUT_MS = 100
# How long after a join starts polls stay short while no partition comes (an instance
# left without partitions, one more than there are, must not poll ten times a second).
JOIN_WINDOW_S = 30.0
# While no partition is assigned (topic missing, e.g. after a broker restart),
# try to create the topics this often.
TOPIC_CHECK_INTERVAL_S = 3.0
CONNECT_RETRY_S = 1.0
MAX_CONNECT_RETRY_S = 10.0
CLOSE_TIMEOUT_S = 5
TOMBSTONE_WAIT_S = 30.0


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
        self._dead_letters: DeadLetterSender | None = None
        # Partitions this instance consumes (replaced, never mutated: read by other threads).
        self.assigned: frozenset[int] = frozenset()
        self._follower = AssignmentFollower(
            settings.kafka_bootstrap, store, self._processor, metrics, directory, self._kafka
        )
        self._changelog: ChangelogWriter | None = None
        self._changelog_lost = False  # the log was re-created while nothing was assigned
        self._standby: StandbyReplicas | None = None
        self._last_commit = time.monotonic()
        self._joining_until = 0.0  # short polls until then while nothing is assigned
        self._pending = Pending()  # records processed since the last durable commit
        self.error: BaseException | None = None
        self._pause = WritePause(store, metrics)

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
                    if self._directory is not None:  # before leaving: no stale reads
                        self._directory.left_group()
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
                changelog = prepare_topics(settings, self._security)
                self._dead_letters = DeadLetterSender(
                    settings.kafka_bootstrap, self._metrics, **self._kafka
                )
                if changelog is not None:
                    self._changelog = ChangelogWriter(
                        settings.kafka_bootstrap, changelog, settings.partitions, **self._kafka
                    )
                    self._standby = new_standby(
                        settings, changelog, self._store, self._directory, self._kafka
                    )
                    if self._standby is not None:
                        self._standby.erased = self._processor.erased
                self._wait_for_tombstones()
                listener = RebalanceListener(self.on_revoked, self.on_assigned)
                self._consumer = join_group(settings, self._directory, listener, self._kafka)
                self._joining_until = time.monotonic() + JOIN_WINDOW_S
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
        self._pending.clear()
        if self._dead_letters is not None:
            self._dead_letters.forget()

    def _close(self) -> None:
        consumer, self._consumer = self._consumer, None
        dead_letters, self._dead_letters = self._dead_letters, None
        self.assigned = frozenset()
        # Bounded: with the broker gone, leaving the group or flushing would wait
        # for a request timeout (minutes) before reconnecting.
        if consumer is not None:
            consumer.close(timeout_ms=CLOSE_TIMEOUT_S * 1000)  # leaves the group
        if dead_letters is not None:
            dead_letters.close(CLOSE_TIMEOUT_S)
        standby, self._standby = self._standby, None
        if standby is not None:
            standby.close()
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
            if self._follower.pending is not None:
                changelog = self._changelog.topic if self._changelog is not None else None
                polled = self._follower.follow(consumer, polled, changelog)
            if polled:
                # One call for the whole poll: the state lookup and the fold are per
                # call, and each partition's records keep their order.
                self._process([record for records in polled.values() for record in records])
            if self._eraser is not None and self._eraser.has_pending():
                self._erase()
            self._check_log_ends(consumer)
            self._follower.settle_log_ends(consumer)
            lag = unfetched(consumer)
            now = time.monotonic()
            # Commit when due, and at once when caught up (nothing more fetched, or
            # no lag left): a lone event is then visible one fetch after it arrived,
            # while under load the lag is rarely 0 and batches stay large.
            caught_up = not polled or lag == 0
            if lag == 0 and not self._processor.batch:
                self._pause.confirmed()  # resumed with nothing to write again: ready
            if now - self._last_commit >= self._settings.commit_interval_s or (
                caught_up and self._processor.batch
            ):
                self.commit()
            if self._standby is not None and self._pause.since is None:
                self._standby.poll(self.assigned)
            if self._pause.since is not None and self._pause.can_resume():
                consumer.resume(*consumer.paused())
            if not consumer.assignment() and now - last_topic_check >= TOPIC_CHECK_INTERVAL_S:
                last_topic_check = now
                recreate_missing_topic(consumer, self._settings, self._security)

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
            # Joining, or partitions not yet served: the join completes inside a poll, and
            # a partition serves once a fetch brought its log end; neither returns a poll
            # that has no records, so a long one would hold the restore and readiness.
            joining = time.monotonic() < self._joining_until and not self._assignment()
            settling = joining or self._follower.settling
            return SETTLING_POLL_TIMEOUT_MS if settling else IDLE_POLL_TIMEOUT_MS
        due_in = self._last_commit + self._settings.commit_interval_s - time.monotonic()
        return max(0, min(IDLE_POLL_TIMEOUT_MS, round(due_in * 1000)))

    def _assignment(self) -> set[TopicPartition]:
        return set() if self._consumer is None else set(self._consumer.assignment())

    def _process(self, records: list[Any]) -> None:
        outcomes, dead = self._processor.process(records)
        self._pending.add((record.timestamp for record in records), len(outcomes))
        self._metrics.consumed.inc(len(outcomes))
        self._metrics.applied.inc(outcomes.count(Outcome.APPLIED))
        self._metrics.duplicates.inc(outcomes.count(Outcome.DUPLICATE))
        for letter in dead:
            assert self._dead_letters is not None
            self._dead_letters.send(letter)

    def _check_log_ends(self, consumer: KafkaConsumer) -> None:
        lost, recreated = rewind_lost_logs(consumer, self._store, self._metrics)
        if lost:
            forget_lost_offsets(lost, self._store, self._processor.batch)
            self._renew_changelog()
        elif recreated:
            # Between a revocation and the next assignment: the assignment's identity check
            # will find the new id adopted already, so it is told to renew the changelog
            # (an admin round trip now would delay the group's join).
            self._changelog_lost = True

    # --- commits and rebalances --------------------------------------------------

    def commit(self) -> None:
        """Make the current batch durable: dead letters acked, then state + offsets."""
        self._last_commit = time.monotonic()
        batch = self._processor.take_batch()
        if not batch:
            return
        with self._metrics.commit_duration.time():
            try:
                make_durable(batch, self._store, self._dead_letters, self._changelog)
            except SeenBefore:
                self._replay_strictly(batch)
                return
            except sqlite3.OperationalError as exc:
                if not cannot_write(exc):
                    raise
                self._pause_unwritable(exc)
                return
        self._processor.strict = False
        self._pause.confirmed()
        self._metrics.committed.inc(self._pending.committed(self._metrics.freshness))
        self._metrics.relationships.inc(batch.new_relationships)
        if self._directory is not None:
            self._directory.committed(batch.offsets)
        commit_to_kafka(self._consumer, batch.offsets)
        self._hub.publish(batch, time.time())

    def _pause_unwritable(self, exc: sqlite3.OperationalError) -> None:
        """The store cannot be written: stop consuming, keep the group (write_pause.py)."""
        consumer = self._consumer
        assert consumer is not None
        self._pause.begin(exc)
        self._drop_uncommitted()
        assigned = list(consumer.assignment())
        seek_to_stored(consumer, self._store, assigned)
        consumer.pause(*assigned)

    @property
    def store_writable(self) -> bool:
        """False while paused on a store that cannot be written."""
        return self._pause.writable

    def _replay_strictly(self, batch: Batch) -> None:
        """Consume the refused batch's records again, every event id looked up.

        Its dead letters were already sent; replaying sends them again (the
        dead-letter topic is at least once, like every topic here).
        """
        log.warning("an event id was reused with a newer time: replaying the batch strictly")
        self._metrics.replays.inc()
        self._pending.clear()
        self._processor.strict = True
        consumer = self._consumer
        assert consumer is not None
        partitions = [TopicPartition(INTERACTIONS_TOPIC, p) for p in batch.offsets]
        seek_to_stored(consumer, self._store, partitions)

    def on_revoked(self, revoked: list[TopicPartition]) -> None:
        # Whoever gets these partitions next reads the store's offsets: write them now.
        self.commit()
        self.assigned = self.assigned - {tp.partition for tp in revoked}
        self._joining_until = time.monotonic() + JOIN_WINDOW_S
        if self._directory is not None:
            self._directory.rebalance_started()
        log.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))

    def on_assigned(self, assigned: list[TopicPartition]) -> None:
        consumer = self._consumer
        assert consumer is not None
        if adopt_log_identity(consumer, self._store, self._metrics) or self._changelog_lost:
            self._changelog_lost = False
            self._renew_changelog()
        seek_to_stored(consumer, self._store, assigned)
        self.assigned = self.assigned | {tp.partition for tp in assigned}
        # The log ends are asked from the loop: a rebalance callback runs on kafka-python's
        # IO thread, which must not block on a request.
        self._follower.assigned(assigned)
        log.info("partitions assigned: %s", sorted(tp.partition for tp in assigned))

    def _renew_changelog(self) -> None:
        """The changelog went with a lost log (lost_log.py)."""
        if self._changelog is not None:
            self._changelog = renew_changelog(
                self._settings, self._security, self._changelog, self._kafka
            )
