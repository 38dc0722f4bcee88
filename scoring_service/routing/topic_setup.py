"""The scoring service's topics: created with explicit settings, existing ones checked."""

from __future__ import annotations

from scoring_service.settings import ScoringSettings
from vinculo.security.kafka import KafkaSecurity
from vinculo.topic_settings import Requirement, check_topic_settings
from vinculo.topics import INTERACTIONS_TOPIC, changelog_topic, check_partitions, ensure_topics


def prepare_topics(settings: ScoringSettings, security: KafkaSecurity) -> str | None:
    """Create missing topics, then refuse existing ones that would misplace or lose data
    (TopicShapeError, TopicSettingsError). Returns the group's changelog topic, if used."""
    changelog = changelog_topic(settings.consumer_group) if settings.changelog else None
    ensure_topics(
        settings.kafka_bootstrap,
        settings.partitions,
        extra_compacted=(changelog,) if changelog else (),
        interaction_retention_ms=settings.interaction_retention_ms,
        security=security,
    )
    topics = (INTERACTIONS_TOPIC, changelog) if changelog else (INTERACTIONS_TOPIC,)
    check_partitions(settings.kafka_bootstrap, topics, settings.partitions, security)
    required = [Requirement(INTERACTIONS_TOPIC, min_retention_ms=settings.interaction_retention_ms)]
    if changelog:
        required.append(Requirement(changelog, compacted=True))
    check_topic_settings(settings.kafka_bootstrap, required, security)
    return changelog
