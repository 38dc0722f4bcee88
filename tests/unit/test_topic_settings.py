"""The decision that refuses an existing topic whose settings would lose data, on the
configs a broker describes (Apache Kafka reports every setting, defaults included)."""

from __future__ import annotations

import pytest

from vinculo.topic_settings import Requirement, problems, unknown_settings

LOG = "vinculo.interactions.v1"
CHANGELOG = "vinculo.scoring.g.changelog.v1"
WEEK_MS = 604_800_000
# What Apache Kafka describes for a topic created without settings (broker defaults).
KAFKA_DEFAULTS = {"cleanup.policy": "delete", "retention.ms": str(WEEK_MS), "retention.bytes": "-1"}


def test_a_default_kafka_topic_is_refused_when_the_whole_history_is_needed() -> None:
    [problem] = problems(Requirement(LOG, min_retention_ms=-1), KAFKA_DEFAULTS)
    assert f"topic {LOG}" in problem
    assert f"retention.ms is {WEEK_MS}" in problem
    assert "VINCULO_INTERACTION_RETENTION_MS" in problem
    assert f"--entity-name {LOG} --add-config retention.ms=-1" in problem


@pytest.mark.parametrize(
    "configs",
    [
        {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"},
        {"cleanup.policy": "compact", "retention.ms": "1000", "retention.bytes": "10"},
    ],
)
def test_a_log_that_keeps_everything_is_accepted(configs: dict[str, str]) -> None:
    assert problems(Requirement(LOG, min_retention_ms=-1), configs) == []


def test_a_finite_requirement_accepts_longer_and_refuses_shorter_retention() -> None:
    req = Requirement(LOG, min_retention_ms=2 * WEEK_MS)
    longer = {**KAFKA_DEFAULTS, "retention.ms": str(3 * WEEK_MS)}
    assert problems(req, longer) == []
    [problem] = problems(req, KAFKA_DEFAULTS)
    assert f"at least {2 * WEEK_MS} ms" in problem
    assert f"retention.ms={2 * WEEK_MS}" in problem
    # a size limit is not refused against a finite requirement (time decides it)
    assert problems(req, {**longer, "retention.bytes": "1000"}) == []


def test_a_size_limit_is_refused_when_the_whole_history_is_needed() -> None:
    configs = {**KAFKA_DEFAULTS, "retention.ms": "-1", "retention.bytes": "1073741824"}
    [problem] = problems(Requirement(LOG, min_retention_ms=-1), configs)
    assert "retention.bytes is 1073741824" in problem
    assert "--add-config retention.bytes=-1" in problem


@pytest.mark.parametrize("policy", ["delete", "compact,delete", "delete,compact"])
def test_a_changelog_that_deletes_is_refused(policy: str) -> None:
    [problem] = problems(Requirement(CHANGELOG, compacted=True), {"cleanup.policy": policy})
    assert f"topic {CHANGELOG}: cleanup.policy is {policy}" in problem
    assert f"--entity-name {CHANGELOG} --add-config cleanup.policy=compact" in problem


def test_a_compacted_changelog_is_accepted() -> None:
    assert problems(Requirement(CHANGELOG, compacted=True), {"cleanup.policy": "compact"}) == []


def test_settings_the_broker_did_not_report_are_unknown_not_refused() -> None:
    log_req, changelog_req = (
        Requirement(LOG, min_retention_ms=-1),
        Requirement(CHANGELOG, compacted=True),
    )
    assert problems(log_req, {}) == [] and problems(changelog_req, {}) == []
    assert unknown_settings(log_req, {}) == ["cleanup.policy", "retention.ms", "retention.bytes"]
    assert unknown_settings(log_req, {"cleanup.policy": "delete", "retention.ms": "-1"}) == [
        "retention.bytes"
    ]
    assert unknown_settings(changelog_req, {"cleanup.policy": "compact"}) == []
