"""Prometheus metrics of the ingest service (gRPC request metrics live in vinculo.grpc_server)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from vinculo.reasons import EVENT_REJECTION_CODES, RAW_DEAD_LETTER_CODES

BRIDGE_ERROR_KINDS = ("kafka", "unexpected")

# A publish waits for acks=all: milliseconds when healthy, the ack timeout when not.
PUBLISH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.received = Counter(
            "vinculo_ingest_events_received_total",
            "Events received in publish calls, valid or not.",
            registry=registry,
        )
        self.accepted = Counter(
            "vinculo_ingest_events_accepted_total",
            "Events accepted and acknowledged by the broker.",
            registry=registry,
        )
        self.duplicate = Counter(
            "vinculo_ingest_events_duplicate_total",
            "Events answered DUPLICATE (seen recently, or twice in one call).",
            registry=registry,
        )
        self.rejected = Counter(
            "vinculo_ingest_events_rejected_total",
            "Events rejected by validation, by reason code.",
            ["reason"],
            registry=registry,
        )
        self.published = Counter(
            "vinculo_ingest_records_published_total",
            "Records acknowledged by the broker (an event and its mirrored copy are two).",
            registry=registry,
        )
        self.publish_duration = Histogram(
            "vinculo_ingest_publish_duration_seconds",
            "Time from the first send of a call's records to the last acknowledgement.",
            buckets=PUBLISH_BUCKETS,
            registry=registry,
        )
        self.publish_failures = Counter(
            "vinculo_ingest_publish_failures_total",
            "Calls answered UNAVAILABLE because the broker did not acknowledge.",
            registry=registry,
        )
        self.broker_up = Gauge(
            "vinculo_ingest_broker_up",
            "1 when the last contact with the broker succeeded, else 0.",
            registry=registry,
        )
        self.outbox_writable = Gauge(
            "vinculo_ingest_outbox_writable",
            "1 while the ingest outbox can write (or there is none), 0 while writes fail"
            " (readiness NOT_SERVING).",
            registry=registry,
        )
        self.outbox_writable.set(1)
        for code in EVENT_REJECTION_CODES:  # series exist at 0 before the first rejection
            self.rejected.labels(code)


class RawBridgeMetrics:
    """The raw-topic bridge (ingest_service.raw_bridge), counted once the broker acknowledged."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.forwarded = Counter(
            "vinculo_ingest_raw_forwarded_total",
            "Raw-topic records forwarded to the interaction topic (with their mirrored copy).",
            registry=registry,
        )
        self.dead_lettered = Counter(
            "vinculo_ingest_raw_dead_lettered_total",
            "Raw-topic records sent to the dead-letter topic, by reason code.",
            ["reason"],
            registry=registry,
        )
        self.failed_batches = Counter(
            "vinculo_ingest_raw_failed_batches_total",
            "Raw-topic batches not acknowledged by the broker, to be read again.",
            registry=registry,
        )
        self.errors = Counter(
            "vinculo_ingest_raw_bridge_errors_total",
            "Times the bridge's loop failed and restarted, by kind (kafka, unexpected).",
            ["kind"],
            registry=registry,
        )
        self.up = Gauge(
            "vinculo_ingest_raw_bridge_up",
            "1 while the bridge is connected and consuming the raw topic, else 0.",
            registry=registry,
        )
        for code in RAW_DEAD_LETTER_CODES:  # series exist at 0 before the first dead letter
            self.dead_lettered.labels(code)
        for kind in BRIDGE_ERROR_KINDS:
            self.errors.labels(kind)
