"""Settings of the ingest service: defaults, `VINCULO_*` variables, flags."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vinculo.domain import MAX_EVENTS_PER_CALL
from vinculo.security.kafka import KafkaClientSettings
from vinculo.security.settings import ServerSecuritySettings
from vinculo.settings import SettingsError, setting

# The documented limit of the API (ingest.proto): a call carries at most this many events.


@dataclass(frozen=True)
class IngestSettings(ServerSecuritySettings, KafkaClientSettings):
    kafka_bootstrap: str = setting(
        "127.0.0.1:9092", "VINCULO_KAFKA_BOOTSTRAP", "Kafka bootstrap servers, comma-separated"
    )
    log_json: bool = setting(False, "VINCULO_LOG_JSON", "log one JSON object per line")
    grpc_host: str = setting("127.0.0.1", "VINCULO_GRPC_HOST", "address the gRPC server binds")
    grpc_port: int = setting(50051, "VINCULO_INGEST_GRPC_PORT", "gRPC port of IngestService")
    metrics_host: str = setting("127.0.0.1", "VINCULO_METRICS_HOST", "address /metrics binds")
    metrics_port: int = setting(9101, "VINCULO_INGEST_METRICS_PORT", "Prometheus /metrics port")
    # A Path is immutable, so a shared default is safe.
    data_dir: Path = setting(Path(".data"), "VINCULO_DATA_DIR", "data directory")  # noqa: RUF009
    partitions: int = setting(8, "VINCULO_PARTITIONS", "partitions of topics created here")
    replication_factor: int = setting(
        -1, "VINCULO_REPLICATION_FACTOR", "replication of topics created here; -1: broker default"
    )
    max_batch: int = setting(
        MAX_EVENTS_PER_CALL, "VINCULO_INGEST_MAX_BATCH", "events per call, at most 1000"
    )
    linger_ms: int = setting(5, "VINCULO_INGEST_LINGER_MS", "producer linger before a send")
    batch_size_bytes: int = setting(
        262_144, "VINCULO_INGEST_BATCH_BYTES", "producer batch size per partition"
    )
    ack_timeout_s: float = setting(
        10.0, "VINCULO_INGEST_ACK_TIMEOUT_S", "wait this long for the broker's acks"
    )
    connect_timeout_s: float = setting(
        3.0, "VINCULO_INGEST_CONNECT_TIMEOUT_S", "wait this long to reach the broker"
    )
    dedupe_window: int = setting(
        200_000, "VINCULO_INGEST_DEDUPE_WINDOW", "recent (owner, event_id) pairs remembered"
    )
    max_workers: int = setting(
        16,
        "VINCULO_INGEST_WORKERS",
        "threads that run gRPC calls once their request has arrived (grpc.aio takes the calls)",
    )
    outbox: bool = setting(
        True,
        "VINCULO_INGEST_OUTBOX",
        "keep acknowledged records in DATA_DIR/ingest/ (fsync) and replay them into an"
        " emptied broker (true/false)",
    )
    outbox_segment_mb: int = setting(
        64,
        "VINCULO_INGEST_OUTBOX_SEGMENT_MB",
        "the outbox begins a new segment file past this size (MiB); a replay reads one"
        " segment at a time",
    )
    outbox_retention_days: float = setting(
        0.0,
        "VINCULO_INGEST_OUTBOX_RETENTION_DAYS",
        "drop outbox segments last written longer ago than this; 0 keeps every record."
        " What is dropped is no longer replayed into an emptied embedded broker, exported"
        " or rebuilt from (decision 11)",
    )
    max_streams: int = setting(
        8, "VINCULO_INGEST_MAX_STREAMS", "open StreamEvents calls in all, below the workers"
    )
    max_streams_per_caller: int = setting(
        4, "VINCULO_INGEST_MAX_STREAMS_PER_CALLER", "open StreamEvents calls per client address"
    )
    stream_idle_timeout_s: float = setting(
        30.0,
        "VINCULO_INGEST_STREAM_IDLE_TIMEOUT_S",
        "close a stream (StreamEvents, PublishEventStream) that sends nothing this long; 0: never",
    )
    ready_file: str = setting(
        "",
        "VINCULO_READY_FILE",
        "once serving, write the bound ports here as JSON (for port 0); empty: no file",
    )
    lifeline_fd: int = setting(
        -1,
        "VINCULO_LIFELINE_FD",
        "an inherited pipe fd from the launcher: its end-of-file (the launcher is gone) stops"
        " the service; -1: none",
    )
    raw_bridge: bool = setting(
        True, "VINCULO_RAW_BRIDGE", "forward CloudEvents from the raw topic (true/false)"
    )
    rate_events_per_s: float = setting(
        0.0,
        "VINCULO_INGEST_RATE_EVENTS_PER_S",
        "events per second each caller may publish (token bucket); 0: no limit",
    )
    raw_sources_file: str = setting(
        "",
        "VINCULO_RAW_SOURCES_FILE",
        "with auth: JSON mapping each CloudEvent source to a producer identity of the policy",
    )

    def validate(self) -> None:
        self.validate_security()
        self.validate_kafka_security()
        if self.rate_events_per_s < 0:
            raise SettingsError("rate_events_per_s: must be >= 0 (0: no limit)")
        if self.raw_sources_file and not self.auth_enabled:
            raise SettingsError("raw_sources_file: needs auth_policy_file (the identities' roles)")
        if not 1 <= self.max_batch <= MAX_EVENTS_PER_CALL:
            raise SettingsError(
                f"max_batch: must be in 1..{MAX_EVENTS_PER_CALL}, not {self.max_batch}"
            )
        if self.partitions < 1:
            raise SettingsError(f"partitions: must be at least 1, not {self.partitions}")
        if self.outbox_segment_mb < 1 or self.outbox_retention_days < 0:
            raise SettingsError(
                f"outbox_segment_mb: at least 1, not {self.outbox_segment_mb};"
                f" outbox_retention_days: 0 or more, not {self.outbox_retention_days}"
            )
        if self.ack_timeout_s <= 0 or self.connect_timeout_s <= 0:
            raise SettingsError("ack_timeout_s, connect_timeout_s: must be positive")
        if not 1 <= self.max_streams <= self.max_workers - 2:
            raise SettingsError(
                f"max_streams: must be in 1..{self.max_workers - 2} (workers - 2, kept for"
                f" PublishEvents and health), not {self.max_streams}"
            )
        if self.max_streams_per_caller < 1:
            raise SettingsError("max_streams_per_caller: must be at least 1")
        if self.stream_idle_timeout_s < 0:
            raise SettingsError("stream_idle_timeout_s: must not be negative (0: no timeout)")
        if self.dedupe_window < 0:
            raise SettingsError("dedupe_window: must not be negative")
        for name in ("grpc_port", "metrics_port"):
            if not 0 <= getattr(self, name) <= 65_535:
                raise SettingsError(f"{name}: not a port number")
