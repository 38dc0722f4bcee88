"""Prometheus metrics of the scoring service; the gRPC ones come from vinculo.grpc_server.

Every metric is registered on the registry passed in, never the global one,
so tests and several services in one process do not collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from scoring_service.batch_histogram import BatchHistogram
from vinculo.reasons import SCORING_DEAD_LETTER_CODES

# Commits write a poll's worth of rows; from a millisecond to a slow disk's seconds.
# Freshness: from the commit interval (0.5 s) to minutes behind.
FRESHNESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ScoringMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.consumed = Counter(
            "vinculo_scoring_events_consumed_total",
            "Records consumed from the interaction topic, whatever their outcome.",
            registry=registry,
        )
        self.committed = Counter(
            "vinculo_scoring_events_committed_total",
            "Records whose effects (or dead letter) are durable in the state store.",
            registry=registry,
        )
        self.applied = Counter(
            "vinculo_scoring_events_applied_total",
            "Events folded into relationship state.",
            registry=registry,
        )
        self.duplicates = Counter(
            "vinculo_scoring_events_duplicate_total",
            "Events skipped because their (owner, event_id) was already applied.",
            registry=registry,
        )
        self.dead_lettered = Counter(
            "vinculo_scoring_events_dead_lettered_total",
            "Records sent to the dead-letter topic, by reason code.",
            ["reason"],
            registry=registry,
        )
        for code in SCORING_DEAD_LETTER_CODES:  # series exist at 0 before the first letter
            self.dead_lettered.labels(code)
        self.lag = Gauge(
            "vinculo_scoring_consumer_lag",
            "Records in the partition not yet durably scored: the broker's end offset minus "
            "the offset committed in the state store (asked of the broker every 2 s).",
            ["partition"],
            registry=registry,
        )
        self.broker_up = Gauge(
            "vinculo_scoring_broker_up",
            "1 while the broker answers the lag monitor's requests, else 0.",
            registry=registry,
        )
        # Observed a commit's records at a time (batch_histogram.py), not one by one.
        self.freshness = BatchHistogram(
            "vinculo_scoring_freshness_seconds",
            "Time from a record's append to the interaction topic (its Kafka timestamp) "
            "to its effect being committed in the state store.",
            buckets=FRESHNESS_BUCKETS,
            registry=registry,
        )
        self.store_writable = Gauge(
            "vinculo_scoring_store_writable",
            "0 while the state store cannot be written (disk full): consumption is paused.",
            registry=registry,
        )
        self.store_writable.set(1)
        self.relationships = Gauge(
            "vinculo_scoring_relationships",
            "Relationships (owner, contact) in the state store.",
            registry=registry,
        )
        self.watch_streams = Gauge(
            "vinculo_scoring_watch_streams",
            "WatchRelationships streams open now (each holds a thread; at most "
            "VINCULO_SCORING_MAX_WATCH_STREAMS).",
            registry=registry,
        )
        self.commit_duration = Histogram(
            "vinculo_scoring_commit_duration_seconds",
            "Time to make one batch durable: dead letters flushed, state and offsets written.",
            buckets=COMMIT_BUCKETS,
            registry=registry,
        )
        self.log_resets = Counter(
            "vinculo_scoring_log_resets_total",
            "Times a partition's log ended before the stored offset (broker lost its data); "
            "consumption restarted at the log's beginning.",
            registry=registry,
        )
        self.replays = Counter(
            "vinculo_scoring_batch_replays_total",
            "Batches refused at commit because an event id was reused with a newer time, "
            "then consumed again with every id looked up.",
            registry=registry,
        )
        self.model_info = Info(
            "vinculo_model",
            "The scoring model in use.",
            registry=registry,
        )

    def set_model(
        self, version: str, feature_schema_version: int, horizon_days: float | None
    ) -> None:
        """`horizon_days`: the window a score predicts contact in ("" when the model
        predicts its training data's own window)."""
        self.model_info.info(
            {
                "version": version,
                "feature_schema_version": str(feature_schema_version),
                "horizon_days": "" if horizon_days is None else f"{horizon_days:g}",
            }
        )
