"""Publishing records to Kafka with acks=all, answering only once acknowledged.

One idempotent KafkaProducer is shared by all calls. When the broker fails a
call (no connection, ack timeout, a fatal producer error), that producer is
retired and the next call builds a new one, re-creating the topics first: a
producer whose broker restarted is stuck in an error state (its producer id is
unknown to the new broker) and, with Tansu, the topics vanished with it.

What "nothing in limbo" means here: records of a failed call are never
reported accepted. The retired producer is closed in the background and gives
up on its pending records within the ack timeout (delivery_timeout_ms), so a
record may still land if the broker recovers within that time; a client retry
is then a redelivery, which the scoring service ignores by event_id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError

from ingest_service.settings import IngestSettings
from vinculo.kafka_append import Appender
from vinculo.partitioning import RememberingPartitioner
from vinculo.security.kafka import kafka_client_config
from vinculo.topics import INTERACTIONS_TOPIC, ensure_topics

log = logging.getLogger(__name__)

# After a failed attempt to reach the broker, calls fail fast for this long
# instead of each one waiting out the connect timeout.
RECONNECT_BACKOFF_S = 0.5


class BrokerUnavailable(Exception):
    """The broker did not acknowledge; nothing of the call may be reported accepted."""


@dataclass(frozen=True, slots=True)
class Record:
    key: str
    value: bytes


class Publisher(Protocol):
    def publish(self, records: Sequence[Record]) -> None:
        """Return once every record is acknowledged; else raise BrokerUnavailable."""


def ensure_ingest_topics(settings: IngestSettings, admin: KafkaAdminClient | None = None) -> None:
    ensure_topics(
        settings.kafka_bootstrap,
        settings.partitions,
        settings.replication_factor,
        client_id="vinculo-ingest-admin",
        connect_timeout_s=settings.connect_timeout_s,
        request_timeout_s=settings.ack_timeout_s,
        security=settings.kafka_security(),
        admin=admin,
    )


class KafkaPublisher:
    """Thread-safe: gRPC worker threads publish concurrently through one producer."""

    def __init__(
        self, settings: IngestSettings, on_broker_state: Callable[[bool], None] | None = None
    ) -> None:
        self._settings = settings
        self._producer: KafkaProducer | None = None
        self._appender: Appender | None = None
        self._lock = threading.Lock()
        self._last_failure = 0.0
        self._last_error = "not connected yet"
        self._on_broker_state = on_broker_state

    def connect(self) -> None:
        """Reach the broker now (at startup); raises BrokerUnavailable if it is down."""
        self._current_producer()

    def publish(self, records: Sequence[Record]) -> None:
        if not records:
            return
        producer, appender = self._current_producer()
        try:
            # By key, as `send` would partition them, without its per-record checks and
            # futures: one future per batch the records went into (vinculo/kafka_append.py).
            futures = appender.append_all([(r.key.encode(), r.value) for r in records])
            # One flush per call: the linger is cut short and the call waits for
            # all its acks at once, not record by record.
            producer.flush(timeout=self._settings.ack_timeout_s)
            for future in futures:
                if not future.succeeded():  # failed, or left unresolved (a split batch)
                    raise future.exception or KafkaError("not acknowledged")
        except KafkaError as exc:
            self._retire(producer, exc)
            raise BrokerUnavailable(self._describe(exc)) from exc

    def close(self) -> None:
        """Flush what is pending (within the ack timeout) and close."""
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            producer.close(timeout=self._settings.ack_timeout_s)

    def _describe(self, exc: BaseException) -> str:
        return f"Kafka at {self._settings.kafka_bootstrap} did not acknowledge: {exc}"

    def _current_producer(self) -> tuple[KafkaProducer, Appender]:
        with self._lock:
            if self._producer is not None and self._appender is not None:
                return self._producer, self._appender
            if time.monotonic() - self._last_failure < RECONNECT_BACKOFF_S:
                raise BrokerUnavailable(self._last_error)
            try:
                ensure_ingest_topics(self._settings)
                self._producer = self._new_producer()
                self._appender = Appender(self._producer, INTERACTIONS_TOPIC)
            except KafkaError as exc:
                self._last_failure = time.monotonic()
                self._last_error = f"Kafka at {self._settings.kafka_bootstrap} unreachable: {exc}"
                self._report(up=False)
                raise BrokerUnavailable(self._last_error) from exc
            log.info("connected to Kafka at %s", self._settings.kafka_bootstrap)
            self._report(up=True)
            return self._producer, self._appender

    def _new_producer(self) -> KafkaProducer:
        s = self._settings
        ack_ms = int(s.ack_timeout_s * 1000)
        return KafkaProducer(
            bootstrap_servers=s.kafka_bootstrap,
            client_id="vinculo-ingest",
            acks="all",
            enable_idempotence=True,
            linger_ms=s.linger_ms,
            partitioner=RememberingPartitioner(),
            batch_size=s.batch_size_bytes,
            max_block_ms=ack_ms,
            request_timeout_ms=max(1000, ack_ms // 2),
            delivery_timeout_ms=ack_ms,
            bootstrap_timeout_ms=int(s.connect_timeout_s * 1000),
            **kafka_client_config(s.kafka_security()),
        )

    def _retire(self, producer: KafkaProducer, exc: BaseException) -> None:
        close = producer.close  # taken before the identity check narrows the type
        with self._lock:
            if self._producer is not producer:
                return  # another call already retired it
            self._producer = None
            self._last_failure = time.monotonic()
            self._last_error = self._describe(exc)
            self._report(up=False)
        log.warning("retiring the Kafka producer: %s", exc)
        # Closing waits for pending records to expire; do not hold up the caller.
        threading.Thread(
            target=close,
            kwargs={"timeout": self._settings.ack_timeout_s + 1},
            name="retire-producer",
            daemon=True,
        ).start()

    def _report(self, up: bool) -> None:
        if self._on_broker_state is not None:
            self._on_broker_state(up)
