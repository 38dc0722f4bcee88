"""Every scoring instance follows the tombstone topic, and gives it back to a broker that lost it.

The topic is read from its beginning by partition assignment (no group: every
instance needs every tombstone, whichever partitions it holds, because a
ForgetOwner also removes the person from other owners' networks). New ones go to
the `Eraser`. When the topic's log is lost (the embedded broker restarted: the
position is past the log end, or the topic is gone) it is read again, and the
tombstones this store holds that the topic lacks are published again, so that
`vinculo export` and other instances (which read only the topic) still see them.
"""

from __future__ import annotations

import logging
import threading

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from scoring_service.erasure.eraser import Eraser
from vinculo import tombstone_log
from vinculo.erasure import TOMBSTONES_TOPIC, Tombstone, TombstoneSet
from vinculo.kafka_positions import beyond, reached
from vinculo.security.kafka import PLAINTEXT, KafkaSecurity, kafka_client_config

log = logging.getLogger(__name__)

POLL_MS = 200  # also how long stop() can wait for the loop
# Until caught up the consumer waits for this (it needs its position after the reset
# to the beginning, not records): a poll of an empty topic returns only at its timeout.
CATCH_UP_POLL_MS = 50
# How long the broker holds a fetch of the (usually empty) topic: each answered fetch
# costs both sides CPU, and the default 500 ms made this thread a fifth of an idle
# service's CPU (measured). Only other instances wait on it: a ForgetOwner call hands
# its tombstone to this instance's eraser directly (erasure/servicer.py).
FETCH_MAX_WAIT_MS = 2000
RETRY_S = 2.0
END_OFFSETS_TIMEOUT_MS = 10_000
PUBLISH_TIMEOUT_S = 10.0


class TombstoneFollower:
    def __init__(self, bootstrap: str, eraser: Eraser, security: KafkaSecurity = PLAINTEXT) -> None:
        self._bootstrap = bootstrap
        self._security = security
        self._eraser = eraser
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tombstones", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow()
            except KafkaError as exc:
                log.warning("tombstone topic: %s; reading it again in %.0f s", exc, RETRY_S)
                self._stop.wait(RETRY_S)

    def _follow(self) -> None:
        """Read from the beginning until the log is lost or stop()."""
        tombstone_log.ensure_topic(self._bootstrap, self._security)
        consumer = KafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            client_id="vinculo-scoring-tombstones",
            metadata_max_age_ms=5000,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            **kafka_client_config(self._security),
        )
        try:
            numbers = consumer.partitions_for_topic(TOMBSTONES_TOPIC) or set()
            partitions = [TopicPartition(TOMBSTONES_TOPIC, p) for p in sorted(numbers)]
            if not partitions:
                self._stop.wait(RETRY_S)
                return
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            # Caught up means read to the ends the topic had when we started, asked for
            # now: a fetch's high watermark comes only with the broker's answer, which it
            # holds for FETCH_MAX_WAIT_MS on an empty topic (a start waited for it).
            start_ends = consumer.end_offsets(partitions, timeout_ms=END_OFFSETS_TIMEOUT_MS)
            seen = TombstoneSet()
            caught_up = False
            while not self._stop.is_set():
                wait_ms = POLL_MS if caught_up else CATCH_UP_POLL_MS
                self._take(consumer.poll(timeout_ms=wait_ms), seen)
                ends = {tp: consumer.highwater(tp) for tp in partitions}
                if any(beyond(consumer, tp, end) for tp, end in ends.items()):
                    log.warning("tombstone topic: its log was lost; reading it again")
                    return
                if not caught_up and all(
                    reached(consumer, tp, _catch_up_end(start_ends[tp], end))
                    for tp, end in ends.items()
                ):
                    caught_up = True
                    self._give_back(seen)
                    self._eraser.caught_up.set()
        finally:
            consumer.close()

    def _take(self, polled: dict[TopicPartition, list[object]], seen: TombstoneSet) -> None:
        new: list[Tombstone] = []
        for records in polled.values():
            for record in records:
                value = getattr(record, "value", None)
                if value is None:
                    continue
                try:
                    tombstone = Tombstone.decode(value)
                except ValueError as exc:
                    log.error("tombstone topic offset %s: %s", getattr(record, "offset", "?"), exc)
                    continue
                seen.add(tombstone)
                new.append(tombstone)
        if new:
            self._eraser.submit(new)

    def _give_back(self, seen: TombstoneSet) -> None:
        """Publish the stored tombstones the topic lacks (a broker that lost its log)."""
        missing = [t for t in self._eraser.tombstones() if seen.add(t)]
        if not missing:
            return
        producer = tombstone_log.new_producer(
            self._bootstrap, "vinculo-scoring-tombstones", self._security
        )
        try:
            tombstone_log.publish(producer, missing, PUBLISH_TIMEOUT_S)
        finally:
            producer.close()
        log.warning("tombstone topic lacked %d stored tombstone(s): published again", len(missing))


def _catch_up_end(at_start: int, highwater: int | None) -> int:
    """The offset to read to: the end at the start, or the fetched end if the log shrank."""
    return at_start if highwater is None else min(at_start, highwater)
