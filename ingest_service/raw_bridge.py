"""The raw-topic bridge: CloudEvents from other tools into the interaction topic.

A consumer (group `vinculo-raw-bridge`) reads `vinculo.raw.v1`, decodes each
record (vinculo.cloudevents), validates it with the rules of the gRPC API
(vinculo.validation), and produces

- valid events, and their mirrored copy when the contact is tracked, to
  `vinculo.interactions.v1`, keyed by owner, exactly as the ingest API does;
- everything else, unchanged, to `vinculo.interactions.v1.dlq` with the reason
  in headers (`vinculo-reason`, `vinculo-reason-code`, and where it came from:
  `vinculo-source-topic`, `-partition`, `-offset`).

The raw offsets are committed only after the broker acknowledged every record
produced for them (acks=all): a crash in between re-reads the batch, and the
repeats are ignored downstream by event id (at least once, never lost). A
failed batch is not committed; the consumer seeks back and retries it.

The loop never ends on an error while the bridge runs: a Kafka error (broker
down or restarted) reconnects after a pause; anything else is a bug, logged
with its traceback at ERROR and counted (`vinculo_ingest_raw_bridge_errors_total`),
and the loop restarts after a longer pause. The gRPC ingest beside it is not
affected either way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

from ingest_service.metrics import RawBridgeMetrics
from ingest_service.publisher import Record
from ingest_service.raw_sources import SourceGate
from ingest_service.servicer import records_for
from vinculo.cloudevents import decode_record
from vinculo.security.kafka import PLAINTEXT, KafkaSecurity, kafka_client_config
from vinculo.topics import (
    DEAD_LETTER_TOPIC,
    INTERACTIONS_TOPIC,
    RAW_TOPIC,
    dead_letter_headers,
)
from vinculo.validation import Rejection, normalise, validate_event

log = logging.getLogger(__name__)

GROUP_ID = "vinculo-raw-bridge"
SESSION_TIMEOUT_MS = 6000  # the default made the group join take 23 s (NOTES.md)
# How long the broker holds a fetch of the (usually empty) raw topic. A fetch returns
# as soon as a record arrives (measured with Tansu: 6-7 ms), so only an idle service's
# CPU depends on it: the default 500 ms made this consumer's thread the busiest of an
# idle ingest service (0.3-0.4% of a core).
FETCH_MAX_WAIT_MS = 2000
RETRY_BACKOFF_S = 1.0
# Leaving the group takes milliseconds; a stop while the join is still in flight
# would otherwise wait for the join (~3 s on the embedded broker, measured).
CLOSE_TIMEOUT_MS = 1000
UNEXPECTED_BACKOFF_S = 10.0  # after a bug: slow enough not to flood the log


@dataclass
class BridgeCounts:
    forwarded: int = 0  # raw records forwarded (each may produce two interaction records)
    dead_lettered: int = 0
    failed_batches: int = 0
    last_error: str = ""
    reasons: dict[str, int] = field(default_factory=dict)


class RawBridge:
    """Runs in a background thread of the ingest service: `start()`, then `stop()`."""

    def __init__(
        self,
        bootstrap: str,
        group_id: str = GROUP_ID,
        clock: Callable[[], float] = time.time,
        ack_timeout_s: float = 10.0,
        poll_timeout_ms: int = 500,
        max_poll_records: int = 1000,
        metrics: RawBridgeMetrics | None = None,
        prepare: Callable[[], None] | None = None,
        keep: Callable[[Sequence[Record]], None] | None = None,
        security: KafkaSecurity = PLAINTEXT,
        gate: SourceGate | None = None,
    ) -> None:
        """`prepare` runs before each (re)connection, e.g. to create the topics;
        `keep` receives the forwarded records once acknowledged, before the raw
        offsets are committed (the ingest outbox)."""
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.clock = clock
        self.ack_timeout_s = ack_timeout_s
        self.poll_timeout_ms = poll_timeout_ms
        self.max_poll_records = max_poll_records
        self.counts = BridgeCounts()
        self.metrics = metrics
        self.prepare = prepare
        self.keep = keep
        self._kafka = kafka_client_config(security)
        self.gate = gate  # with auth on: the source's producer identity must cover the owner
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="raw-bridge", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("raw bridge: still running %.0f s after stop; leaving it", timeout_s)
            self._thread = None

    # --- the loop -------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.prepare is not None:
                    self.prepare()
                self._consume()
            except KafkaError as exc:  # broker gone or restarted: reconnect after a pause
                self._failed("kafka", exc)
                log.warning("raw bridge: %s; reconnecting in %.0f s", exc, RETRY_BACKOFF_S)
                self._stop.wait(RETRY_BACKOFF_S)
            except Exception as exc:  # a bug: say so loudly, keep the service up, try again
                self._failed("unexpected", exc)
                log.exception(
                    "raw bridge FAILED (raw-topic events are not forwarded); restarting in %.0f s",
                    UNEXPECTED_BACKOFF_S,
                )
                self._stop.wait(UNEXPECTED_BACKOFF_S)

    def _failed(self, kind: str, exc: Exception) -> None:
        self.counts.last_error = f"{type(exc).__name__}: {exc}"
        if self.metrics is not None:
            self.metrics.errors.labels(kind).inc()

    def _consume(self) -> None:
        consumer = KafkaConsumer(
            RAW_TOPIC,
            bootstrap_servers=self.bootstrap,
            group_id=self.group_id,
            client_id="vinculo-raw-bridge",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=SESSION_TIMEOUT_MS // 3,
            max_poll_records=self.max_poll_records,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            **self._kafka,
        )
        producer = KafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id="vinculo-raw-bridge",
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            **self._kafka,
        )
        log.info("raw bridge: %s -> %s (group %s)", RAW_TOPIC, INTERACTIONS_TOPIC, self.group_id)
        if self.metrics is not None:
            self.metrics.up.set(1)
        try:
            while not self._stop.is_set():
                polled = consumer.poll(timeout_ms=self.poll_timeout_ms)
                for partition, records in polled.items():
                    self._bridge_batch(consumer, producer, partition, records)
        finally:
            if self.metrics is not None:
                self.metrics.up.set(0)
            producer.close(timeout=self.ack_timeout_s)
            consumer.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_MS)

    def _bridge_batch(
        self,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        partition: TopicPartition,
        records: Sequence[Any],
    ) -> None:
        """Forward or dead-letter one partition's batch; commit it once acknowledged."""
        now = self.clock()
        futures = []
        forwarded = 0
        kept: list[Record] = []
        reasons: dict[str, int] = {}
        for record in records:
            outcome = self._route(record, now)
            if isinstance(outcome, Rejection):
                headers = dead_letter_headers(
                    outcome, record.topic, record.partition, record.offset, record.headers or []
                )
                futures.append(producer.send(DEAD_LETTER_TOPIC, record.value, record.key, headers))
                reasons[outcome.code] = reasons.get(outcome.code, 0) + 1
                continue
            for out in outcome:
                futures.append(producer.send(INTERACTIONS_TOPIC, out.value, out.key.encode()))
                kept.append(out)
            forwarded += 1
        producer.flush(timeout=self.ack_timeout_s)
        failed = [f.exception for f in futures if not f.succeeded()]
        if failed:
            # Nothing committed: seek back so the whole batch is tried again.
            self.counts.failed_batches += 1
            consumer.seek(partition, records[0].offset)
            if self.metrics is not None:
                self.metrics.failed_batches.inc()
            raise KafkaError(f"{len(failed)} records not acknowledged: {failed[0]}")
        if self.keep is not None:
            self.keep(kept)
        consumer.commit({partition: OffsetAndMetadata(records[-1].offset + 1, "", -1)})
        self._count(forwarded, reasons)

    def _count(self, forwarded: int, reasons: dict[str, int]) -> None:
        """Count a batch once acknowledged and committed (a retried batch counts once)."""
        self.counts.forwarded += forwarded
        self.counts.dead_lettered += sum(reasons.values())
        for code, n in reasons.items():
            self.counts.reasons[code] = self.counts.reasons.get(code, 0) + n
        if self.metrics is not None:
            self.metrics.forwarded.inc(forwarded)
            for code, n in reasons.items():
                self.metrics.dead_lettered.labels(code).inc(n)

    def _route(self, record: Any, now: float) -> Rejection | list[Any]:
        headers = [(k, v) for k, v in (record.headers or [])]
        decoded = decode_record(record.value, headers)
        if isinstance(decoded, Rejection):
            return decoded
        normalise(decoded)
        problem = validate_event(decoded, now)
        if problem is None and self.gate is not None:
            problem = self.gate.check(record.value, headers, decoded)
        if problem is not None:
            return problem
        return records_for(decoded)
