"""A rolling restart of a scaled-out scoring service under queries and a slow publisher:
no owner is answered wrong, NOT_FOUND or with another error while the instances restart
one by one (UNAVAILABLE is allowed; CANCELLED only from the instance being stopped)."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import grpc
import pytest
from kafka import KafkaProducer

from tests.harness import ServiceProcess, wait_until
from tests.integration.scale_out_data import (
    CONTACTS,
    OWNERS,
    PARTITIONS,
    Answer,
    Ranking,
    answers_of,
    events_of,
    owner,
    publish,
    ranking_or_error,
    scoring_instance,
)
from vinculo.partitioning import partition_of
from vinculo.topics import INTERACTIONS_TOPIC
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration


def _settled_answers(instance: ServiceProcess, owners: int = OWNERS // 2) -> Ranking | None:
    """The one answer the first `owners` owners all get, once each has its whole
    ranking, else None."""
    answers = answers_of(instance.address, owners)
    first = answers[0]
    if isinstance(first, list) and len(first) == CONTACTS and all(a == first for a in answers):
        return first
    return None


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
