"""A Publisher that answers only once the broker AND the outbox hold the records.

See ingest_service.outbox for the log and docs/decisions/0011 for why. The
watcher thread replays the outbox when the interaction topic is not the one
the outbox was last written to (an in-memory broker restarted).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from ingest_service.outbox import Outbox
from ingest_service.outbox_health import OutboxHealth
from ingest_service.publisher import (
    BrokerUnavailable,
    KafkaPublisher,
    Record,
    ensure_ingest_topics,
)
from ingest_service.settings import IngestSettings
from vinculo.security.kafka import kafka_client_config
from vinculo.topics import INTERACTIONS_TOPIC

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0
REPLAY_CHUNK = 2000


class OutboxUnavailable(BrokerUnavailable):
    """The outbox could not keep a batch (disk full): nothing of it is acknowledged."""


class DurablePublisher:
    """Kafka first (acks=all), then the outbox (fsync); then the call may answer."""

    def __init__(
        self,
        kafka: KafkaPublisher,
        outbox: Outbox,
        settings: IngestSettings,
        health: OutboxHealth | None = None,
    ) -> None:
        """health: told of each outbox write's outcome; probed while writes fail."""
        self._kafka = kafka
        self._outbox = outbox
        self._health = health
        self._settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._admin: KafkaAdminClient | None = None
        self.replays = 0
        # Records this process did not publish itself: with no topic id stored yet,
        # only these can belong to a log that is gone.
        self._kept_at_start = len(outbox)

    def connect(self) -> None:
        self._kafka.connect()

    def publish(self, records: Sequence[Record]) -> None:
        # Kafka before the outbox: a record the broker refused is never in the
        # outbox, so an UNAVAILABLE answer leaves nothing to replay later.
        self._kafka.publish(records)
        try:
            self._outbox.append(records)
        except OSError as exc:
            if self._health is not None:
                self._health.failed(exc)  # readiness NOT_SERVING until a write succeeds
            # A full disk (or a failing one): the call answers UNAVAILABLE naming it, not
            # UNKNOWN with a traceback. The broker has the records; a retry is deduplicated.
            reason = exc.strerror or str(exc)
            raise OutboxUnavailable(
                f"ingest outbox {self._outbox.directory}: cannot write ({reason}): free space there"
            ) from exc
        if self._health is not None:
            self._health.succeeded()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="outbox-watch", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self._settings.ack_timeout_s + 5)
        self._drop_admin()
        self._kafka.close()
        self._outbox.close()

    def check_once(self) -> int:
        """Replay the outbox if the topic is not the one it was written to; return the count.

        The topic's id (KIP-516) changes when it is re-created, which is what
        an in-memory broker's restart looks like; with Apache Kafka it never
        changes. (End offsets would not do: Tansu answers ListOffsets with the
        base offset of the last batch, measured in vinculo_apps/commands/export.py.)
        """
        current = self._topic_id()
        stored = self._stored_topic_id()
        if current == stored:
            return 0
        # No id stored yet (a first start): what this process published went to the
        # current topic; only what the outbox held before it started is replayed.
        kept = len(self._outbox) if stored is not None else self._kept_at_start
        if kept:
            log.warning(
                "topic %s is new to the outbox (id %s): the broker lost its log (restarted?);"
                " replaying the outbox's %d records",
                INTERACTIONS_TOPIC, current, kept,
            )  # fmt: skip
        sent = self._replay(0, kept)
        if stored is not None:
            # A call acknowledged by the old broker just before it died may have
            # reached the outbox after the snapshot: send those too (repeats are ignored).
            sent += self._replay(kept, len(self._outbox))
        self._store_topic_id(current)
        if sent:
            self.replays += 1
            log.info("replayed %d records from the outbox", sent)
        return sent

    def _replay(self, start: int, end: int) -> int:
        """Produce records [start, end) again; one outbox segment in memory at a time."""
        batch: list[Record] = []
        sent = 0
        for record in self._outbox.records_between(start, end):
            batch.append(record)
            if len(batch) == REPLAY_CHUNK:
                self._kafka.publish(batch)
                sent, batch = sent + len(batch), []
        self._kafka.publish(batch)
        return sent + len(batch)

    def _topic_id(self) -> str:
        if self._admin is None:
            self._admin = KafkaAdminClient(
                bootstrap_servers=self._settings.kafka_bootstrap,
                client_id="vinculo-ingest-outbox",
                request_timeout_ms=int(self._settings.ack_timeout_s * 1000),
                **kafka_client_config(self._settings.kafka_security()),
            )
        # Create before describing, every time: Tansu creates a missing topic on any
        # metadata request with its own default of 4 partitions (NOTES.md). Through the
        # client kept here: a new one each second (connect, versions, metadata) was most
        # of this thread's CPU in an idle service.
        ensure_ingest_topics(self._settings, self._admin)
        described = self._admin.describe_topics([INTERACTIONS_TOPIC])
        topic_id = described[0].get("topic_id") if described else None
        if not topic_id or described[0].get("error_code"):
            raise KafkaError(f"topic {INTERACTIONS_TOPIC} not described: {described}")
        return str(topic_id)

    def _stored_topic_id(self) -> str | None:
        path = self._outbox.path.with_suffix(".topic-id")
        return path.read_text().strip() if path.exists() else None

    def _store_topic_id(self, topic_id: str) -> None:
        """Atomically: a crash leaves the old id or the new one, never half a file."""
        path = self._outbox.path.with_suffix(".topic-id")
        partial = path.with_suffix(".topic-id.partial")
        with partial.open("w") as out:
            out.write(topic_id)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(path)

    def _watch(self) -> None:
        while not self._stop.wait(CHECK_INTERVAL_S):
            if self._health is not None:
                self._health.probe_if_due()  # before the broker check, which may wait
            try:
                self.check_once()
            except (KafkaError, BrokerUnavailable) as exc:
                # The broker is down or half up: the next tick tries again.
                log.debug("outbox check: %s", exc)
                self._drop_admin()

    def _drop_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            admin.close()
