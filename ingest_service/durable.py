"""A Publisher that answers only once the broker AND the outbox hold the records.

See ingest_service.outbox for the log and docs/decisions/0011 for why. The
watcher thread replays the outbox when the broker holds fewer interaction
records than the outbox knows it had (an in-memory broker restarted).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from ingest_service.outbox import Outbox
from ingest_service.publisher import (
    BrokerUnavailable,
    KafkaPublisher,
    Record,
    ensure_ingest_topics,
)
from ingest_service.settings import IngestSettings
from vinculo.topics import INTERACTIONS_TOPIC

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0
REPLAY_CHUNK = 2000


class DurablePublisher:
    """Kafka first (acks=all), then the outbox (fsync); then the call may answer."""

    def __init__(self, kafka: KafkaPublisher, outbox: Outbox, settings: IngestSettings) -> None:
        self._kafka = kafka
        self._outbox = outbox
        self._settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: KafkaConsumer | None = None
        self.replays = 0

    def connect(self) -> None:
        self._kafka.connect()

    def publish(self, records: Sequence[Record]) -> None:
        # Kafka before the outbox: a record the broker refused is never in the
        # outbox, so an UNAVAILABLE answer leaves nothing to replay later.
        self._kafka.publish(records)
        self._outbox.append(records)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="outbox-watch", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self._settings.ack_timeout_s + 5)
        self._drop_consumer()
        self._kafka.close()
        self._outbox.close()

    def check_once(self) -> int:
        """Replay the outbox if the broker lost records; return how many were replayed."""
        kept = len(self._outbox)  # all acknowledged by the broker before this line
        if kept == 0:
            return 0
        held = self._broker_holds()
        if held >= kept:
            return 0
        log.warning(
            "the broker holds %d interaction records, the outbox %d acknowledged ones: "
            "the broker lost history (restarted?); replaying the outbox",
            held, kept,
        )  # fmt: skip
        sent = 0
        batch: list[Record] = []
        for record in self._outbox.records(kept):
            batch.append(record)
            if len(batch) == REPLAY_CHUNK:
                self._kafka.publish(batch)
                sent, batch = sent + len(batch), []
        self._kafka.publish(batch)
        sent += len(batch)
        self.replays += 1
        log.info("replayed %d records from the outbox", sent)
        return sent

    def _watch(self) -> None:
        while not self._stop.wait(CHECK_INTERVAL_S):
            try:
                self.check_once()
            except (KafkaError, BrokerUnavailable) as exc:
                # The broker is down or half up: the next tick tries again.
                log.debug("outbox check: %s", exc)
                self._drop_consumer()

    def _broker_holds(self) -> int:
        """The interaction records the broker holds: the sum of the end offsets."""
        if self._consumer is None:
            ensure_ingest_topics(self._settings)
            self._consumer = KafkaConsumer(
                bootstrap_servers=self._settings.kafka_bootstrap,
                client_id="vinculo-ingest-outbox",
                enable_auto_commit=False,
                request_timeout_ms=int(self._settings.ack_timeout_s * 1000) + 1000,
            )
        partitions = self._consumer.partitions_for_topic(INTERACTIONS_TOPIC)
        if not partitions:
            raise KafkaError(f"no partitions known for {INTERACTIONS_TOPIC}")
        ends = self._consumer.end_offsets(
            [TopicPartition(INTERACTIONS_TOPIC, p) for p in partitions]
        )
        return int(sum(ends.values()))

    def _drop_consumer(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()
