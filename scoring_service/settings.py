"""Settings of the scoring service: defaults < `VINCULO_*` environment < flags."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vinculo.security.kafka import KafkaClientSettings
from vinculo.security.settings import ServerSecuritySettings
from vinculo.settings import SettingsError, setting

# Heartbeats go every third of the session timeout: below this one a busy process misses them.
MIN_SESSION_TIMEOUT_MS = 1000


@dataclass(frozen=True)
class ScoringSettings(ServerSecuritySettings, KafkaClientSettings):
    kafka_bootstrap: str = setting(
        "127.0.0.1:9092", "VINCULO_KAFKA_BOOTSTRAP", "Kafka bootstrap servers, comma separated"
    )
    log_json: bool = setting(False, "VINCULO_LOG_JSON", "log one JSON object per line")
    grpc_host: str = setting("127.0.0.1", "VINCULO_GRPC_HOST", "gRPC listen address")
    grpc_port: int = setting(50052, "VINCULO_SCORING_GRPC_PORT", "gRPC listen port")
    metrics_host: str = setting(
        "127.0.0.1", "VINCULO_METRICS_HOST", "Prometheus /metrics listen address"
    )
    metrics_port: int = setting(9102, "VINCULO_SCORING_METRICS_PORT", "Prometheus /metrics port")
    data_dir: Path = setting(Path(".data"), "VINCULO_DATA_DIR", "directory of the state store")  # noqa: RUF009
    partitions: int = setting(8, "VINCULO_PARTITIONS", "partitions of topics created if missing")
    consumer_group: str = setting(
        "vinculo-scoring", "VINCULO_SCORING_GROUP", "Kafka consumer group of scoring instances"
    )
    commit_interval_s: float = setting(
        0.5, "VINCULO_SCORING_COMMIT_INTERVAL", "seconds between state+offset commits"
    )
    max_poll_records: int = setting(
        5000, "VINCULO_SCORING_MAX_POLL_RECORDS", "records fetched per poll at most"
    )
    session_timeout_ms: int = setting(
        6000,
        "VINCULO_SCORING_SESSION_TIMEOUT_MS",
        "consumer-group session timeout: a dead instance's partitions move after it; on the"
        " embedded broker a first join waits about half of it (Apache Kafka accepts >= 6000"
        " unless group.min.session.timeout.ms is lowered)",
    )
    model_path: str = setting(
        "", "VINCULO_MODEL_PATH", "scoring model artifact (.skops); empty = the shipped default"
    )
    model_cache_dir: str = setting(
        "~/.cache/vinculo/models",
        "VINCULO_MODEL_CACHE_DIR",
        "where the model's compiled trees are cached so that a start needs no scikit-learn"
        " (keyed by the artifact's sha256; empty = no cache)",
    )
    max_workers: int = setting(
        32, "VINCULO_SCORING_WORKERS", "gRPC worker threads for calls, watch streams not counted"
    )
    # Each watch stream holds a thread of its own, added to the pool on top of max_workers
    # (idle, it sleeps without polling; ~RSS per stream in docs/performance.md).
    max_watch_streams: int = setting(
        1000, "VINCULO_SCORING_MAX_WATCH_STREAMS", "concurrent WatchRelationships streams at most"
    )
    cadence_close_days: float = setting(
        14.0, "VINCULO_CADENCE_CLOSE_DAYS", "days between contacts a close tie expects"
    )
    cadence_relationship_days: float = setting(
        60.0, "VINCULO_CADENCE_RELATIONSHIP_DAYS", "days between contacts a relationship expects"
    )
    cadence_acquaintance_days: float = setting(
        180.0, "VINCULO_CADENCE_ACQUAINTANCE_DAYS", "days between contacts an acquaintance expects"
    )
    cache_owners: int = setting(
        256,
        "VINCULO_SCORING_CACHE_OWNERS",
        "owners whose scored network is cached for reads as of now (0 = no cache)",
    )
    cache_rows: int = setting(
        500_000,
        "VINCULO_SCORING_CACHE_ROWS",
        "relationships held in that cache at most, all owners together (~1 KB each)",
    )
    cache_ttl_s: float = setting(
        30.0,
        "VINCULO_SCORING_CACHE_TTL",
        "seconds a cached scored network is reused when no commit changed it",
    )
    cache_stale_s: float = setting(
        0.5,
        "VINCULO_SCORING_CACHE_STALE",
        "seconds after a commit a read may get the network it superseded while the owner"
        " is rescored (0 = always wait for the rescoring)",
    )
    store_cache_mb: int = setting(
        64,
        "VINCULO_SCORING_STORE_CACHE_MB",
        "SQLite page cache of the state store's writer, in MiB",
    )
    wal_limit_mb: int = setting(
        64,
        "VINCULO_SCORING_WAL_LIMIT_MB",
        "size of the state store's write-ahead log past which it is checkpointed and truncated",
    )
    advertised_address: str = setting(
        "",
        "VINCULO_SCORING_ADVERTISED_ADDRESS",
        "host:port other scoring instances forward calls to (empty = the gRPC host and port)",
    )
    changelog: bool = setting(
        True,
        "VINCULO_SCORING_CHANGELOG",
        "back each partition's state with the compacted changelog topic, restore from it",
    )
    interaction_retention_ms: int = setting(
        -1,
        "VINCULO_INTERACTION_RETENTION_MS",
        "retention of the interaction topic when created, and the shortest deleting retention"
        " accepted on an existing one (-1: keep every record)",
    )
    standby_replicas: int = setting(
        0,
        "VINCULO_SCORING_STANDBY_REPLICAS",
        "warm copies kept of each partition on other instances (from its changelog), so a"
        " failover resumes from a recent offset instead of a full restore",
    )
    tls_peer_ca: str = setting(
        "",
        "VINCULO_SCORING_TLS_PEER_CA",
        "with TLS: CA of the other scoring instances' certificates, for forwarding"
        " (empty = the system's roots)",
    )
    tls_peer_name: str = setting(
        "",
        "VINCULO_SCORING_TLS_PEER_NAME",
        "with TLS: the name the other instances' certificates are checked against when"
        " forwarding (empty = the host of each one's advertised address)",
    )
    route_wait_s: float = setting(
        5.0,
        "VINCULO_SCORING_ROUTE_WAIT_S",
        "seconds a call waits for its owner's partition to settle before UNAVAILABLE",
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
    rebuild_state: bool = setting(
        False,
        "VINCULO_SCORING_REBUILD_STATE",
        "drop stored state of another schema version and re-consume the topic from the start",
    )
    rebuild_wait_s: float = setting(
        60.0,
        "VINCULO_SCORING_REBUILD_WAIT_S",
        "before a rebuild, wait this long for the topic to hold the store's history, then refuse",
    )

    @property
    def database_path(self) -> Path:
        return self.data_dir / "scoring.sqlite3"

    @property
    def model_cache_path(self) -> Path | None:
        return Path(self.model_cache_dir).expanduser() if self.model_cache_dir else None

    def validate(self) -> None:
        self.validate_security()
        self.validate_kafka_security()
        for name in ("grpc_port", "metrics_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise SettingsError(f"{name}: {port} is not a TCP port")
        if self.partitions < 1:
            raise SettingsError(f"partitions: {self.partitions}, at least 1 required")
        if self.commit_interval_s <= 0:
            raise SettingsError(f"commit_interval_s: {self.commit_interval_s}, must be > 0")
        if self.max_workers < 1 or self.max_watch_streams < 0:
            raise SettingsError(
                f"max_workers: {self.max_workers}, max_watch_streams: {self.max_watch_streams};"
                " at least 1 worker and 0 streams"
            )
        for name in (
            "cadence_close_days",
            "cadence_relationship_days",
            "cadence_acquaintance_days",
        ):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name}: must be > 0 days")
        if self.cache_owners < 0 or self.cache_rows < 0:
            raise SettingsError("cache_owners, cache_rows: must be >= 0 (0 disables the cache)")
        if self.cache_ttl_s <= 0:
            raise SettingsError(f"cache_ttl_s: {self.cache_ttl_s}, must be > 0")
        if not self.cache_stale_s >= 0:
            raise SettingsError(f"cache_stale_s: {self.cache_stale_s}, must be >= 0")
        if self.store_cache_mb < 1 or self.wal_limit_mb < 1:
            raise SettingsError("store_cache_mb, wal_limit_mb: must be >= 1 MiB")
        if self.route_wait_s < 0:
            raise SettingsError(f"route_wait_s: {self.route_wait_s}, must be >= 0")
        if self.interaction_retention_ms != -1 and self.interaction_retention_ms < 1:
            raise SettingsError(
                f"interaction_retention_ms: {self.interaction_retention_ms}, must be -1 "
                "(keep every record) or > 0"
            )
        if self.standby_replicas < 0:
            raise SettingsError(f"standby_replicas: {self.standby_replicas}, must be >= 0")
        if self.session_timeout_ms < MIN_SESSION_TIMEOUT_MS:
            raise SettingsError(
                f"session_timeout_ms: {self.session_timeout_ms}, at least {MIN_SESSION_TIMEOUT_MS}"
            )
        if self.max_poll_records < 1:
            raise SettingsError(f"max_poll_records: {self.max_poll_records}, at least 1")
