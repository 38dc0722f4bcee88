"""The Kafka side of the wire contract, shared by both services, the tests and the bench.

Records on the interaction topic are keyed by owner and hold a serialized
`InteractionEvent`, with no headers: the topic's name fixes the format, and a
content-type header on every record cost kafka-python 3.5 µs per record to
parse on the scoring side (7.8 against 11.2 µs per record consumed, measured),
about 5% of the pipeline's CPU. Dead letters keep the original key, value and
headers and say why in `vinculo-*` headers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from vinculo.security.kafka import PLAINTEXT, KafkaSecurity, kafka_client_config
from vinculo.validation import Rejection

log = logging.getLogger(__name__)

INTERACTIONS_TOPIC = "vinculo.interactions.v1"
DEAD_LETTER_TOPIC = "vinculo.interactions.v1.dlq"
# CloudEvents written by other tools, bridged by the ingest service.
RAW_TOPIC = "vinculo.raw.v1"
ALL_TOPICS = (INTERACTIONS_TOPIC, DEAD_LETTER_TOPIC, RAW_TOPIC)
COMPACTED = {"cleanup.policy": "compact"}
# Explicit settings, so that a cluster's defaults never decide what is kept: the
# interaction log is the history state is rebuilt from (kept until a retention is set),
# the changelog keeps the latest value of every key.
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    INTERACTIONS_TOPIC: {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"},
}


def changelog_topic(group: str) -> str:
    """The scoring state of one consumer group (one logical scoring service), one
    compacted partition per interaction partition (scoring_service/routing/changelog.py);
    named per group, as Kafka Streams names a store's changelog per application."""
    return f"vinculo.scoring.{group}.changelog.v1"


TOPIC_ALREADY_EXISTS = 36  # Kafka error code: creating topics is idempotent


def ensure_topics(
    bootstrap: str,
    partitions: int,
    replication_factor: int = -1,
    *,
    client_id: str = "vinculo-admin",
    connect_timeout_s: float = 3.0,
    request_timeout_s: float = 10.0,
    extra_compacted: tuple[str, ...] = (),
    interaction_retention_ms: int = -1,
    security: KafkaSecurity = PLAINTEXT,
    admin: KafkaAdminClient | None = None,
) -> None:
    """Create the topics Vinculo uses if missing (and `extra_compacted`, compacted: a
    scoring group's changelog); an existing topic is left as is (the scoring service
    checks its settings: vinculo/topic_settings.py). The interaction topic keeps its
    records `interaction_retention_ms` (-1: forever).

    Either service may start first, so both call this. Replication factor -1
    is the broker's default. `admin`: a client the caller keeps (and closes), for a
    caller that checks every second (the ingest outbox's watcher); else one is made.
    """
    own = admin is None
    if admin is None:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            bootstrap_timeout_ms=int(connect_timeout_s * 1000),
            request_timeout_ms=int(request_timeout_s * 1000),
            **kafka_client_config(security),
        )
    try:
        spec = {"num_partitions": partitions, "replication_factor": replication_factor}
        configs = {name: dict(TOPIC_CONFIGS.get(name, {})) for name in ALL_TOPICS}
        configs[INTERACTIONS_TOPIC]["retention.ms"] = str(interaction_retention_ms)
        wanted = {name: {**spec, "configs": configs[name]} for name in ALL_TOPICS}
        wanted.update({name: {**spec, "configs": dict(COMPACTED)} for name in extra_compacted})
        response = admin.create_topics(wanted, raise_errors=False)
    finally:
        if own:
            admin.close()
    for topic in response["topics"]:
        if topic["error_code"] not in (0, TOPIC_ALREADY_EXISTS):
            raise KafkaError(
                f"cannot create topic {topic['name']}: error {topic['error_code']} "
                f"{topic['error_message']}"
            )
        if topic["error_code"] == 0:
            log.info("created topic %s with %d partitions", topic["name"], partitions)


def dead_letter_headers(
    reason: Rejection,
    topic: str,
    partition: int,
    offset: int,
    original: Iterable[tuple[str, bytes]] = (),
) -> list[tuple[str, bytes]]:
    """The original record's own headers (none of ours), then why and where from."""
    return [
        *[(k, v) for k, v in original if not k.startswith("vinculo-")],
        ("vinculo-reason", reason.message.encode()),
        ("vinculo-reason-code", reason.code.encode()),
        ("vinculo-source-topic", topic.encode()),
        ("vinculo-source-partition", str(partition).encode()),
        ("vinculo-source-offset", str(offset).encode()),
    ]


def recreate_if_misshapen(
    bootstrap: str, topic: str, partitions: int, security: KafkaSecurity = PLAINTEXT
) -> bool:
    """Re-create `topic` (compacted) when it is missing or has another partition count.

    For a scoring group's changelog after the embedded broker lost its data: the
    broker creates a topic a client merely asks about, with its own default count,
    so the changelog can come back with the wrong shape; it holds nothing then.
    Returns whether the topic was (re-)created.
    """
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="vinculo-admin", **kafka_client_config(security)
    )
    try:
        described = admin.describe_topics([topic])
        found = described[0] if described else {}
        count = len(found.get("partitions") or []) if not found.get("error_code") else 0
        if count == partitions:
            return False
        if count:
            log.warning(
                "topic %s has %d partitions, not %d: re-creating it", topic, count, partitions
            )
            admin.delete_topics([topic])
        admin.create_topics(
            {
                topic: {
                    "num_partitions": partitions,
                    "replication_factor": -1,
                    "configs": dict(COMPACTED),
                }
            },
            raise_errors=False,
        )
        return True
    finally:
        admin.close()


class TopicShapeError(RuntimeError):
    """An existing topic whose shape would misplace or lose data; the message says the fix."""


def check_partitions(
    bootstrap: str,
    topics: tuple[str, ...],
    partitions: int,
    security: KafkaSecurity = PLAINTEXT,
) -> None:
    """Refuse topics whose partition count differs from `partitions` (VINCULO_PARTITIONS):
    an owner's state lives in the partition its key hashes to, so the count decides where
    every owner's state is."""
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="vinculo-admin", **kafka_client_config(security)
    )
    try:
        described = admin.describe_topics(list(topics))
    finally:
        admin.close()
    for found in described:
        count = len(found.get("partitions") or [])
        if not found.get("error_code") and count != partitions:
            raise TopicShapeError(
                f"topic {found['name']} has {count} partitions but VINCULO_PARTITIONS is "
                f"{partitions}: each owner's state lives in the partition its id hashes to. "
                f"Set VINCULO_PARTITIONS={count} on every service (with "
                f"VINCULO_SCORING_REBUILD_STATE=true once), or re-create the topic with "
                f"{partitions} partitions"
            )
