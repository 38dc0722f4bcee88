"""Refuse existing topics whose settings would lose what the design keeps in them.

`ensure_topics` creates the topics with explicit settings, but an existing topic
(made by an operator, a cluster's auto-creation, an older version) keeps its own.
Two would silently lose data:

- the interaction topic deleting records sooner than `VINCULO_INTERACTION_RETENTION_MS`
  (default -1: the whole history, which `as_of` reads, rebuilds replay and a store
  without a changelog is restored from), by time (`retention.ms`) or by size
  (`retention.bytes`);
- a changelog that is not compacted (`cleanup.policy` without `compact`, or with
  `delete` too): its old keys, which a restore needs, would be deleted by age.

The settings are read with DescribeConfigs (every config, defaults included: a
topic created without settings on Apache Kafka reports the broker's 7-day
retention). A broker that does not report a setting (the embedded broker, Tansu,
reports only the settings a topic was created with, and none for a topic created
without) leaves it unknown: that is logged, naming the topic and the setting, and
not refused, since nothing says the data is at risk.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from vinculo.security.kafka import PLAINTEXT, KafkaSecurity, kafka_client_config

log = logging.getLogger(__name__)

KEEP_FOREVER = -1


class TopicSettingsError(RuntimeError):
    """An existing topic's setting would lose data; the message names topic, setting, fix."""


@dataclass(frozen=True)
class Requirement:
    """What one topic must keep: `min_retention_ms` (-1: everything) or compaction."""

    topic: str
    min_retention_ms: int | None = None  # for a log that must keep its history
    compacted: bool = False  # for a changelog


def _fix(topic: str, setting: str, value: str) -> str:
    return (
        f"kafka-configs.sh --bootstrap-server <broker> --alter --entity-type topics "
        f"--entity-name {topic} --add-config {setting}={value}"
    )


def _shorter(retention_ms: int, needed_ms: int) -> bool:
    """Whether a retention (-1: forever) keeps records for less than needed."""
    if retention_ms == KEEP_FOREVER:
        return False
    return needed_ms == KEEP_FOREVER or retention_ms < needed_ms


def _retention_problem(req: Requirement, configs: Mapping[str, str]) -> str | None:
    """Why the topic's deleting retention is shorter than required, or None."""
    needed = req.min_retention_ms
    assert needed is not None
    policy = configs.get("cleanup.policy")
    if policy is not None and "delete" not in policy.split(","):
        return None  # compacted only: nothing is deleted by age or size
    wanted = "forever (-1)" if needed == KEEP_FOREVER else f"at least {needed} ms"
    value = "-1" if needed == KEEP_FOREVER else str(needed)
    retention = configs.get("retention.ms")
    if retention is not None and _shorter(int(retention), needed):
        return (
            f"topic {req.topic}: retention.ms is {retention} with cleanup.policy "
            f"{policy or 'delete'}, but the scoring service needs its records kept "
            f"{wanted} (VINCULO_INTERACTION_RETENTION_MS): older interactions would be "
            f"deleted and lost to as_of, rebuilds and restores. Fix: "
            f"{_fix(req.topic, 'retention.ms', value)}, or set "
            f"VINCULO_INTERACTION_RETENTION_MS={retention} to accept that history"
        )
    size = configs.get("retention.bytes")
    if size is not None and int(size) != KEEP_FOREVER and needed == KEEP_FOREVER:
        return (
            f"topic {req.topic}: retention.bytes is {size} with cleanup.policy "
            f"{policy or 'delete'}, but the scoring service needs every record kept "
            f"(VINCULO_INTERACTION_RETENTION_MS=-1): the oldest interactions would be deleted "
            f"once a partition outgrows it. Fix: {_fix(req.topic, 'retention.bytes', '-1')}"
        )
    return None


def _compaction_problem(req: Requirement, configs: Mapping[str, str]) -> str | None:
    policy = configs.get("cleanup.policy")
    if policy is None:
        return None
    policies = set(policy.split(","))
    if policies == {"compact"}:
        return None
    return (
        f"topic {req.topic}: cleanup.policy is {policy}, but a scoring changelog must be "
        f"compacted only (its oldest keys are what a restore reads; 'delete' would drop them "
        f"by age). Fix: {_fix(req.topic, 'cleanup.policy', 'compact')}"
    )


def problems(req: Requirement, configs: Mapping[str, str]) -> list[str]:
    """The settings of `configs` (name -> value, as described) that would lose data."""
    found: list[str | None] = []
    if req.min_retention_ms is not None:
        found.append(_retention_problem(req, configs))
    if req.compacted:
        found.append(_compaction_problem(req, configs))
    return [p for p in found if p is not None]


def unknown_settings(req: Requirement, configs: Mapping[str, str]) -> list[str]:
    """The settings the decision needs that the broker did not report."""
    names = ["cleanup.policy"]
    if req.min_retention_ms is not None:
        names += ["retention.ms", "retention.bytes"]
    return [name for name in names if name not in configs]


def describe(
    bootstrap: str, topics: list[str], security: KafkaSecurity = PLAINTEXT
) -> dict[str, dict[str, str]]:
    """Every config of each topic the broker reports (defaults included), by name."""
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="vinculo-admin", **kafka_client_config(security)
    )
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
        answer = admin.describe_configs(resources, config_filter="all")
    finally:
        admin.close()
    described = answer.get("topic", {})
    return {
        topic: {
            name: str(entry["value"])
            for name, entry in described.get(topic, {}).items()
            if entry.get("value") is not None
        }
        for topic in topics
    }


def check_topic_settings(
    bootstrap: str, requirements: list[Requirement], security: KafkaSecurity = PLAINTEXT
) -> None:
    """Raise TopicSettingsError naming every setting that would lose data; log the
    settings the broker did not report (they cannot be checked)."""
    described = describe(bootstrap, [req.topic for req in requirements], security)
    found: list[str] = []
    for req in requirements:
        configs = described.get(req.topic, {})
        found += problems(req, configs)
        missing = unknown_settings(req, configs)
        if missing:
            log.warning(
                "topic %s: the broker does not report %s (DescribeConfigs); they cannot be "
                "checked, make sure they keep what the scoring service needs "
                "(docs/decisions/0008-one-logical-scoring-service.md)",
                req.topic,
                ", ".join(missing),
            )
    if found:
        raise TopicSettingsError("; ".join(found))
