"""One logical scoring service over several instances (issue "Scale out").

Three scoring instances share a consumer group; a fourth, alone in its own
group, is the single-instance reference over the same topic. Every instance
must answer every owner exactly as the reference does: the instances that do
not hold an owner's partition forward the call to the one that does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import grpc
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from tests.harness import ServiceProcess, wait_until
from vinculo.partitioning import partition_of
from vinculo.timestamps import set_seconds
from vinculo.topics import INTERACTIONS_TOPIC, ensure_topics
from vinculo.v1 import events_pb2 as ev
from vinculo.v1 import scoring_pb2 as pb
from vinculo.v1 import scoring_pb2_grpc
from vinculo_apps.client import publish_events
from vinculo_apps.commands.up import Stack, UpSettings
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

OWNERS = 200
CONTACTS = 5
T0 = 1_750_000_000.0
PARTITIONS = 8  # of the interaction topic (publish creates it)
AS_OF = T0 + 30 * 86_400.0  # pinned, so answers do not move with the clock


Ranking = list[tuple[str, float, int, int]]
Answer = Ranking | str


def owner(i: int) -> str:
    return f"owner-{i:03d}"


def events_of(owners: range) -> Iterator[ev.InteractionEvent]:
    for i in owners:
        for c in range(CONTACTS):
            for k in range(c + 1):  # contact c gets c+1 messages: a distinct ranking
                event = ev.InteractionEvent(
                    event_id=f"e-{i}-{c}-{k}",
                    owner_id=owner(i),
                    contact_id=f"contact-{c}",
                    type=ev.INTERACTION_TYPE_MESSAGE,
                    direction=ev.DIRECTION_INBOUND if k % 2 else ev.DIRECTION_OUTBOUND,
                    channel="email",
                    owner_only=True,
                )
                set_seconds(event.occurred_at, T0 + 3600.0 * (c * 10 + k))
                yield event


def publish(bootstrap: str, owners: range) -> int:
    ensure_topics(bootstrap, PARTITIONS)
    kafka = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    sent = 0
    try:
        for event in events_of(owners):
            kafka.send(
                INTERACTIONS_TOPIC, key=event.owner_id.encode(), value=event.SerializeToString()
            )
            sent += 1
        kafka.flush()
    finally:
        kafka.close()
    return sent


def ranking(channel: grpc.Channel, owner_id: str) -> Ranking | str:
    """The owner's whole ranking as of AS_OF (contact, score, tier, events counted), or
    the status code's name on an error: an event lost or counted twice changes it."""
    return ranking_or_error(channel, owner_id)[0]


def ranking_or_error(channel: grpc.Channel, owner_id: str) -> tuple[Answer, str]:
    """`ranking`, and the error's details (empty when answered)."""
    stub = scoring_pb2_grpc.ScoringServiceStub(channel)
    request = pb.ListRelationshipsRequest(owner_id=owner_id, page_size=100)
    set_seconds(request.as_of, AS_OF)
    try:
        reply = stub.ListRelationships(request, timeout=10)
    except grpc.RpcError as exc:
        return exc.code().name, str(exc.details())
    return [
        (r.contact_id, round(r.score, 9), r.tier, _events_counted(r)) for r in reply.relationships
    ], ""


def _events_counted(relationship: pb.Relationship) -> int:
    return sum(c.inbound + c.outbound + c.mutual for c in relationship.signals.counts)


def scoring_instance(broker: EmbeddedBroker, data_dir: Path, group: str) -> ServiceProcess:
    return ServiceProcess(
        "scoring_service", data_dir, broker.bootstrap, ["--consumer-group", group]
    )


def all_answers(address: str) -> dict[str, Ranking | str]:
    with grpc.insecure_channel(address) as channel:
        return {owner(i): ranking(channel, owner(i)) for i in range(OWNERS)}


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
        wait_until(lambda: not _topic_exists(broker.bootstrap), what="the topic deleted")
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


def _settled_answers(instance: ServiceProcess, owners: int = OWNERS // 2) -> Ranking | None:
    """The one answer the first `owners` owners all get, once each has its whole
    ranking, else None."""
    answers = _answers_of(instance.address, owners)
    first = answers[0]
    if isinstance(first, list) and len(first) == CONTACTS and all(a == first for a in answers):
        return first
    return None


def _topic_exists(bootstrap: str) -> bool:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return INTERACTIONS_TOPIC in consumer.topics()
    finally:
        consumer.close()


def test_a_rolling_restart_under_queries_answers_no_owner_wrong_or_missing(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        instances = [
            scoring_instance(broker, tmp_path / f"instance-{n}", "scaled") for n in range(3)
        ]
        for instance in instances:
            stack.callback(instance.stop)
            instance.start()
        sent = publish(broker.bootstrap, range(OWNERS // 2))
        wait_until(
            lambda: (
                sum(i.metric("vinculo_scoring_events_committed_total") for i in instances) >= sent
            ),
            timeout_s=60,
            what="the group scored every event",
        )
        # Every owner got the same events at the same times, so all answer alike: an
        # owner whose answer differs from the others' was not wholly scored yet.
        first = wait_until(
            partial(_settled_answers, instances[0]),
            timeout_s=60,
            what="every owner answered, all alike",
        )
        expected: dict[str, Answer] = {owner(i): first for i in range(OWNERS // 2)}
        load = QueryLoad(instances, expected)
        # Meanwhile the other owners' events arrive, into the same partitions: partitions
        # move, are restored and caught up while they are being written.
        publisher = SlowPublisher(broker.bootstrap, range(OWNERS // 2, OWNERS))
        threads = [threading.Thread(target=load.run), threading.Thread(target=publisher.run)]
        for thread in threads:
            thread.start()
        try:
            for n, instance in enumerate(instances):
                load.stopping = n
                instance.stop()
                load.stopping = None
                instance.start()
        finally:
            load.stop.set()
            publisher.stop.set()
            for thread in threads:
                thread.join(30)
        print(f"rolling restart under load: {load.report()}")
        print(f"published during the restart: {publisher.owners_sent} owners' events")
        assert load.counts["answers"] > 100
        failures = load.counts["not_found"] + load.counts["wrong"] + load.counts["error"]
        assert failures == 0, load.report()
        # Every owner published during the restart ends up scored exactly once, everywhere.
        published = OWNERS // 2 + publisher.owners_sent
        for instance in instances:
            answers = wait_until(
                partial(_settled_answers, instance, published),
                timeout_s=120,
                what=f"{instance.address} answers all {published} owners alike",
            )
            assert answers == first, instance.address


class SlowPublisher:
    """Publishes the owners' events one owner at a time, a few a second, until stopped."""

    PAUSE_S = 0.3

    def __init__(self, bootstrap: str, owners: range) -> None:
        self._bootstrap = bootstrap
        self._owners = owners
        self.stop = threading.Event()
        self.owners_sent = 0

    def run(self) -> None:
        kafka = KafkaProducer(bootstrap_servers=self._bootstrap, linger_ms=5)
        try:
            for i in self._owners:
                if self.stop.wait(self.PAUSE_S):
                    return
                for event in events_of(range(i, i + 1)):
                    kafka.send(
                        INTERACTIONS_TOPIC,
                        key=event.owner_id.encode(),
                        value=event.SerializeToString(),
                    )
                kafka.flush()
                self.owners_sent += 1
        finally:
            kafka.close()


class QueryLoad:
    """Queries the instances in turn (by their address at the time of each call, so a
    restarted instance is asked again) and keeps, per instance, what went wrong and the
    first few samples of it: owner, the answer, and the answer expected."""

    SAMPLES = 5

    def __init__(self, instances: list[ServiceProcess], expected: dict[str, Answer]) -> None:
        self._instances = instances
        self._expected = expected
        self.stop = threading.Event()
        self.counts = {"answers": 0, "wrong": 0, "error": 0, "not_found": 0, "unavailable": 0}
        self.per_instance: dict[int, dict[str, int]] = {
            n: {"answers": 0, "wrong": 0, "error": 0, "not_found": 0, "unavailable": 0}
            for n in range(len(instances))
        }
        self.samples: list[str] = []
        self.stopping: int | None = None  # the instance being stopped now
        self.cancelled_by_stop = 0

    def run(self) -> None:
        channels: dict[str, grpc.Channel] = {}
        try:
            n = 0
            while not self.stop.is_set():
                n += 1
                index = n % len(self._instances)
                address = self._instances[index].address
                if address not in channels:
                    channels[address] = grpc.insecure_channel(address)
                owner_id = owner(n % (OWNERS // 2))
                started, stopping = time.monotonic(), self.stopping
                answer, details = ranking_or_error(channels[address], owner_id)
                if answer == "CANCELLED" and index in (stopping, self.stopping):
                    # gRPC cancels the calls a stopping server has not handed to a handler
                    # yet (grpc/grpc#41785): that instance is going away, not answering.
                    answer = "CANCELLED_BY_STOP"
                self._count(index, owner_id, answer, details, time.monotonic() - started)
        finally:
            for channel in channels.values():
                channel.close()

    def _count(
        self, index: int, owner_id: str, answer: Answer, details: str, took_s: float
    ) -> None:
        kind = "answers"
        if answer == "NOT_FOUND":
            kind = "not_found"
        elif answer in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED_BY_STOP"):
            kind = "unavailable"
        elif isinstance(answer, str):
            kind = "error"  # another status code: a failure too, but not a wrong ranking
        elif answer != self._expected[owner_id]:
            kind = "wrong"
        self.cancelled_by_stop += answer == "CANCELLED_BY_STOP"
        for counts in (self.counts, self.per_instance[index]):
            counts["answers"] += 1
            if kind != "answers":
                counts[kind] += 1
        if kind in ("wrong", "not_found", "error") and len(self.samples) < self.SAMPLES:
            self.samples.append(
                f"{owner_id} (partition {partition_of(owner_id, PARTITIONS)}) asked "
                f"instance-{index} at {time.strftime('%H:%M:%S')} ({took_s:.2f} s): "
                f"answered {answer!r} {details}, expected {self._expected[owner_id]!r}"
            )

    def report(self) -> str:
        lines = [
            f"total {self.counts}, of the unavailable {self.cancelled_by_stop} CANCELLED by"
            " the instance being stopped"
        ]
        lines += [f"instance-{n}: {counts}" for n, counts in self.per_instance.items()]
        return "\n".join(lines + self.samples)


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
                    (found := _answers_of(address, 20))
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


def _answers_of(address: str, owners: int) -> list[Ranking | str]:
    with grpc.insecure_channel(address) as channel:
        return [ranking(channel, owner(i)) for i in range(owners)]
