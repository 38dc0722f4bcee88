"""The consumer loop's timing, with a fake Kafka consumer: long polls when idle, and
a commit as soon as it has caught up rather than when the interval is up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kafka import TopicPartition
from prometheus_client import CollectorRegistry

from scoring_service import consumer as consumer_module
from scoring_service.consumer import IDLE_POLL_TIMEOUT_MS, SETTLING_POLL_TIMEOUT_MS, ScoringConsumer
from scoring_service.metrics import ScoringMetrics
from scoring_service.settings import ScoringSettings
from scoring_service.store import StateStore
from scoring_service.watch import WatchHub
from tests.unit.scoring_fakes import Record
from vinculo.topics import INTERACTIONS_TOPIC
from vinculo.v1 import events_pb2 as pb

T0 = 1_750_000_000.0
TP = TopicPartition(INTERACTIONS_TOPIC, 0)


def _record(offset: int) -> Record:
    event = pb.InteractionEvent(
        event_id=f"e{offset}",
        owner_id="ana",
        contact_id="bo",
        type=pb.INTERACTION_TYPE_MESSAGE,
        direction=pb.DIRECTION_OUTBOUND,
    )
    event.occurred_at.FromSeconds(int(T0))
    return Record(0, offset, b"ana", event.SerializeToString())


class FakeKafka:
    """Returns the scripted polls in turn, then asks the loop to stop."""

    def __init__(self, polls: list[list[Record]], high: int, owner: ScoringConsumer) -> None:
        self.polls = polls
        self.high = high
        self.owner = owner
        self.timeouts: list[int] = []
        self.committed_before_poll: list[int | None] = []
        self.pos = 0

    def poll(self, timeout_ms: int) -> dict[TopicPartition, list[Record]]:
        self.timeouts.append(timeout_ms)
        self.committed_before_poll.append(self.owner._store.next_offset(0))
        if not self.polls:
            self.owner._stop.set()
            return {}
        records = self.polls.pop(0)
        if records:
            self.pos = records[-1].offset + 1
        return {TP: records} if records else {}

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def highwater(self, tp: TopicPartition) -> int:
        return self.high

    def position(self, tp: TopicPartition, timeout_ms: int | None = None) -> int:
        return self.pos

    def commit_async(self, offsets: Any, callback: Any = None) -> None:
        pass


def _consumer(tmp_path: Path) -> ScoringConsumer:
    settings = ScoringSettings(data_dir=tmp_path, commit_interval_s=60.0)
    store = StateStore(settings.database_path, INTERACTIONS_TOPIC)
    return ScoringConsumer(settings, store, ScoringMetrics(CollectorRegistry()), WatchHub())


def test_commits_once_caught_up_and_polls_long_when_idle(tmp_path: Path) -> None:
    scoring = _consumer(tmp_path)
    # two records while more are known to be waiting (high 3), then the third: lag 0
    fake = FakeKafka([[_record(0), _record(1)], [_record(2)], []], high=3, owner=scoring)
    scoring._consumer = fake
    scoring._loop()
    # idle at first; then a batch is pending, so only until the commit is due (60 s
    # interval, capped); after the commit at lag 0 idle again
    assert fake.timeouts[0] == IDLE_POLL_TIMEOUT_MS
    assert 0 < fake.timeouts[1] <= IDLE_POLL_TIMEOUT_MS
    assert fake.committed_before_poll[1] is None  # lag 1 left: no commit yet
    assert fake.committed_before_poll[2] == 3  # caught up: committed at once, not after 60 s
    assert fake.timeouts[2] == IDLE_POLL_TIMEOUT_MS
    scoring._store.close()


def test_a_pending_batch_is_committed_when_a_poll_returns_nothing(tmp_path: Path) -> None:
    scoring = _consumer(tmp_path)
    fake = FakeKafka([[_record(0)], [], []], high=5, owner=scoring)  # lag never reaches 0
    scoring._consumer = fake
    scoring._loop()
    assert fake.committed_before_poll[1] is None
    assert fake.committed_before_poll[2] == 1  # the empty poll committed it
    scoring._store.close()


def test_poll_timeout_is_the_time_left_until_the_commit_is_due(tmp_path: Path) -> None:
    scoring = _consumer(tmp_path)
    assert scoring._poll_timeout_ms() == IDLE_POLL_TIMEOUT_MS
    scoring._processor.batch.offsets[0] = 1
    scoring._last_commit = consumer_module.time.monotonic() - 59.8
    assert 0 < scoring._poll_timeout_ms() <= 200
    scoring._last_commit -= 10
    assert scoring._poll_timeout_ms() == 0
    scoring._store.close()


class Unassigned(FakeKafka):
    def assignment(self) -> set[TopicPartition]:
        return set()


def test_polls_are_short_while_joining_and_until_new_partitions_serve(tmp_path: Path) -> None:
    scoring = _consumer(tmp_path)
    scoring._consumer = Unassigned([], high=0, owner=scoring)
    scoring.on_revoked([])  # a join starts (kafka-python revokes first, even nothing)
    assert scoring._poll_timeout_ms() == SETTLING_POLL_TIMEOUT_MS
    # past the join window with still nothing assigned (more instances than partitions)
    scoring._joining_until = consumer_module.time.monotonic() - 1
    assert scoring._poll_timeout_ms() == IDLE_POLL_TIMEOUT_MS
    # assigned, not yet served: short until its log end is known
    scoring._consumer = FakeKafka([], high=0, owner=scoring)
    scoring._follower.assigned([TP])
    assert scoring._poll_timeout_ms() == SETTLING_POLL_TIMEOUT_MS
    scoring._follower.pending = None  # followed, and its log end known: served
    assert scoring._poll_timeout_ms() == IDLE_POLL_TIMEOUT_MS
    scoring._store.close()
