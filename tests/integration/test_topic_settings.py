"""An existing topic whose settings would lose data is refused at start, naming the
topic, the setting and the fix (vinculo/topic_settings.py), on the embedded broker.

Tansu describes the settings a topic was created with (as DEFAULT_CONFIG) and none
for a topic created without: the first test refuses real described settings, the
second shows that unreported settings are logged as unchecked, not refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from tests.harness import ServiceProcess, wait_until
from vinculo.topics import INTERACTIONS_TOPIC, changelog_topic
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

PARTITIONS = 8  # the scoring service's default VINCULO_PARTITIONS
CHANGELOG = changelog_topic("vinculo-scoring")


def create(bootstrap: str, topics: dict[str, dict[str, str]]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics(
            [
                NewTopic(name, PARTITIONS, 1, topic_configs=configs)
                for name, configs in topics.items()
            ]
        )
    finally:
        admin.close()


def test_a_log_with_a_short_retention_and_a_deleting_changelog_are_refused(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    create(
        broker.bootstrap,
        {
            INTERACTIONS_TOPIC: {"cleanup.policy": "delete", "retention.ms": "3600000"},
            CHANGELOG: {"cleanup.policy": "delete"},
        },
    )
    scoring = ServiceProcess("scoring_service", tmp_path / "scoring", broker.bootstrap)
    try:
        scoring.spawn()
        process = scoring.process
        assert process is not None
        code = wait_until(lambda: process.poll(), timeout_s=60, what="the refusal")
        assert code != 0
        text = scoring.log_text()
        assert f"topic {INTERACTIONS_TOPIC}: retention.ms is 3600000" in text
        assert f"--entity-name {INTERACTIONS_TOPIC} --add-config retention.ms=-1" in text
        assert f"topic {CHANGELOG}: cleanup.policy is delete" in text
        assert f"--entity-name {CHANGELOG} --add-config cleanup.policy=compact" in text
    finally:
        scoring.stop()


def test_settings_the_broker_does_not_report_are_logged_and_the_service_serves(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    create(broker.bootstrap, {INTERACTIONS_TOPIC: {}})  # Tansu then reports no setting
    scoring = ServiceProcess("scoring_service", tmp_path / "scoring", broker.bootstrap)
    try:
        scoring.start()  # SERVING: not refused
        text = scoring.log_text()
        assert (
            f"topic {INTERACTIONS_TOPIC}: the broker does not report cleanup.policy, "
            "retention.ms, retention.bytes" in text
        )
        assert f"topic {CHANGELOG}: the broker does not report" not in text  # created by us
    finally:
        scoring.stop()
