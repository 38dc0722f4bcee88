"""One logical scoring service over several instances (issue "Scale out").

Three scoring instances share a consumer group; a fourth, alone in its own
group, is the single-instance reference over the same topic. Every instance
must answer every owner exactly as the reference does: the instances that do
not hold an owner's partition forward the call to the one that does.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest
from kafka import KafkaAdminClient

from tests.harness import wait_until
from tests.integration.scale_out_data import (
    CONTACTS,
    OWNERS,
    all_answers,
    answers_of,
    events_of,
    publish,
    scoring_instance,
    topic_exists,
)
from vinculo.topics import INTERACTIONS_TOPIC, ensure_topics
from vinculo_apps.client import publish_events
from vinculo_apps.commands.up import Stack, UpSettings
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration


def test_every_instance_answers_every_owner_like_a_single_instance(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        reference = scoring_instance(broker, tmp_path / "reference", "reference")
        stack.callback(reference.stop)
        instances = [
            scoring_instance(broker, tmp_path / f"instance-{n}", "scaled") for n in range(3)
        ]
        for instance in instances:
            stack.callback(instance.stop)
            instance.start()
        reference.start()
        sent = publish(broker.bootstrap, range(OWNERS))
        wait_until(
            lambda: reference.metric("vinculo_scoring_events_committed_total") == sent,
            timeout_s=60,
            what="the reference scored every event",
        )
        wait_until(
            lambda: (
                sum(i.metric("vinculo_scoring_events_committed_total") for i in instances) == sent
            ),
            timeout_s=60,
            what="the group scored every event",
        )
        expected = all_answers(reference.address)
        assert all(
            isinstance(answer, list) and len(answer) == CONTACTS for answer in expected.values()
        )
        for instance in instances:
            assert all_answers(instance.address) == expected, instance.address
        # Each instance held some partitions and forwarded the rest: all three consumed.
        assert all(i.metric("vinculo_scoring_events_committed_total") > 0 for i in instances)


def test_a_killed_instance_loses_no_owner_and_no_event(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """SIGKILL while events are being published and consumed: the first chunks are in
    flight when the kill lands, the rest are published after it."""
    chunk = OWNERS // 10
    with ExitStack() as stack:
        reference = scoring_instance(broker, tmp_path / "reference", "reference")
        stack.callback(reference.stop)
        instances = [
            scoring_instance(broker, tmp_path / f"instance-{n}", "scaled") for n in range(3)
        ]
        for instance in instances:
            stack.callback(instance.stop)
            instance.start()
        reference.start()
        sent: list[int] = []
        killed = threading.Event()

        def ingest() -> None:
            for start in range(0, OWNERS, chunk):
                if start == OWNERS // 2:  # half before (or racing) the kill, half after
                    killed.wait(60)
                sent.append(publish(broker.bootstrap, range(start, start + chunk)))

        publisher = threading.Thread(target=ingest)
        publisher.start()
        try:
            wait_until(
                lambda: instances[0].metric("vinculo_scoring_events_committed_total") > 0,
                timeout_s=60,
                what="the instance to kill has committed some events",
            )
            instances[0].kill()
        finally:
            killed.set()
            publisher.join(60)
        assert len(sent) == 10 and not publisher.is_alive()
        wait_until(
            lambda: reference.metric("vinculo_scoring_events_committed_total") == sum(sent),
            timeout_s=60,
            what="the reference scored every event",
        )
        expected = all_answers(reference.address)
        survivors = instances[1:]
        # The killed member's partitions move once the group notices (session timeout),
        # are caught up from the log by their new holders, then answered everywhere.
        for instance in survivors:
            wait_until(
                lambda instance=instance: all_answers(instance.address) == expected,
                timeout_s=90,
                what=f"{instance.address} answers every owner like the reference",
            )


def test_a_new_instance_restores_from_the_changelog_when_the_log_is_gone(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """The interaction topic loses its records (re-created here; on Apache Kafka, its
    retention): a new instance with an empty disk still restores every relationship."""
    with ExitStack() as stack:
        reference = scoring_instance(broker, tmp_path / "reference", "reference")
        stack.callback(reference.stop)
        first = scoring_instance(broker, tmp_path / "first", "scaled")
        stack.callback(first.stop)
        first.start()
        reference.start()
        sent = publish(broker.bootstrap, range(OWNERS))
        for service in (first, reference):
            wait_until(
                lambda service=service: (
                    service.metric("vinculo_scoring_events_committed_total") == sent
                ),
                timeout_s=60,
                what=f"{service.address} scored every event",
            )
        expected = all_answers(reference.address)
        first.stop()
        reference.stop()
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:
            admin.delete_topics([INTERACTIONS_TOPIC])
        finally:
            admin.close()
        wait_until(lambda: not topic_exists(broker.bootstrap), what="the topic deleted")
        ensure_topics(broker.bootstrap, 8)  # before any client's metadata request re-creates it
        newcomer = scoring_instance(broker, tmp_path / "newcomer", "scaled")
        stack.callback(newcomer.stop)
        newcomer.start()
        wait_until(
            lambda: all_answers(newcomer.address) == expected,
            timeout_s=60,
            what="the newcomer answers every owner as before the log was lost",
        )
        assert "restored from the changelog" in newcomer.log_text()


def test_vinculo_up_runs_several_scoring_instances_that_answer_alike(tmp_path: Path) -> None:
    settings = UpSettings(
        data_dir=tmp_path / "data",
        broker_port=0,
        ingest_grpc_port=0,
        ingest_metrics_port=0,
        scoring_grpc_port=0,
        scoring_metrics_port=0,
        scoring_instances=2,
    )
    with Stack(settings) as stack:
        scorers = [s for s in stack.services if s.module == "scoring_service"]
        assert len(scorers) == 2 and len({s.address for s in scorers}) == 2
        with grpc.insecure_channel(stack.ingest.address) as channel:
            publish_events(channel, list(events_of(range(20))))
        answers = [
            wait_until(
                lambda address=s.address: (
                    (found := answers_of(address, 20))
                    and all(isinstance(a, list) and len(a) == CONTACTS for a in found)
                    and found
                ),
                timeout_s=60,
                what=f"{s.name} answers all 20 owners",
            )
            for s in scorers
        ]
        assert answers[0] == answers[1]
        described = "\n".join(stack.describe())
        assert "scoring-2" in described
