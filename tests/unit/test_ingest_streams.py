"""Seeding the dedupe window from a real outbox file, and the idle-stream watchdog's rules."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry

from ingest_service.dedupe import RecentEvents
from ingest_service.dedupe_seed import newest_keys, seed_recent
from ingest_service.metrics import IngestMetrics
from ingest_service.outbox import Outbox
from ingest_service.publisher import BrokerUnavailable, Record
from ingest_service.servicer import (
    ACKNOWLEDGED_MESSAGES,
    BatchProcessor,
    IngestServicer,
    records_for,
)
from ingest_service.stream_idle import IdleStreams
from tests.unit.test_ingest_batch import ACCEPTED, DUPLICATE, REJECTED
from tests.unit.test_validation import NOW, valid_event
from vinculo.v1 import ingest_pb2


def fill(outbox: Outbox, count: int) -> None:
    """`count` events of ana's, each with its mirrored copy for bruno, as the servicer writes."""
    for i in range(count):
        outbox.append(records_for(valid_event(event_id=f"e{i}")))


def test_seed_remembers_the_newest_own_events_not_their_copies(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    try:
        fill(outbox, 10)
        assert len(outbox) == 20  # each event and its copy
        assert newest_keys(outbox, 4) == [("ana", f"e{i}") for i in range(6, 10)]
        recent = RecentEvents(4)
        assert seed_recent(recent, outbox, 4) == 4
        assert ("ana", "e9") in recent and ("ana", "e5") not in recent
        assert newest_keys(outbox, 0) == []
    finally:
        outbox.close()


def test_seed_after_reopening_reads_what_a_crashed_process_acknowledged(tmp_path: Path) -> None:
    first = Outbox(tmp_path)
    fill(first, 3)
    first.close()  # as the kernel does for a killed process
    reopened = Outbox(tmp_path)
    try:
        assert newest_keys(reopened, 100) == [("ana", "e0"), ("ana", "e1"), ("ana", "e2")]
    finally:
        reopened.close()


class FakeContext:
    """Records how the watchdog and the handler end the call."""

    def __init__(self) -> None:
        self.cancelled = 0
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def cancel(self) -> None:
        self.cancelled += 1

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.aborted = (code, details)
        raise grpc.RpcError(details)


def test_a_stream_busy_with_a_message_is_not_idle_and_a_finished_one_is_forgotten() -> None:
    idle = IdleStreams(timeout_s=5)
    fake = FakeContext()
    context: Any = fake
    with idle.watching(iter([ingest_pb2.StreamEventsRequest()]), context, "M") as requests:
        assert next(requests) == ingest_pb2.StreamEventsRequest()
        # The handler is publishing that message, not waiting for the client.
        assert idle.check(now=float("inf")) == 0
    assert idle.check(now=float("inf")) == 0  # the call is over: nothing watched
    assert (fake.cancelled, fake.aborted) == (0, None)


def test_an_idle_stream_is_closed_once_and_its_handler_records_the_code() -> None:
    idle = IdleStreams(timeout_s=5)
    fake = FakeContext()
    context: Any = fake

    def blocked() -> Any:
        # The client sent nothing: by the time the handler's wait ends, the watchdog ran.
        assert idle.check(now=float("inf")) == 1
        assert idle.check(now=float("inf")) == 0  # closed once
        raise StopIteration

    class Blocking:
        def __iter__(self) -> Blocking:
            return self

        def __next__(self) -> Any:
            return blocked()

    with (
        idle.watching(Blocking(), context, "PublishEventStream") as requests,
        pytest.raises(grpc.RpcError),
    ):
        next(requests)
    assert fake.cancelled == 1  # a fake has no core call: the public cancel() is used
    assert fake.aborted is not None
    code, details = fake.aborted
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "PublishEventStream: no message for 5 s" in details
    assert idle.closed_count == 1


class FlakyPublisher:
    """Acknowledges until told the broker is down."""

    def __init__(self) -> None:
        self.down = False

    def publish(self, records: Sequence[Record]) -> None:
        if self.down:
            raise BrokerUnavailable("broker down")


class StreamContext(FakeContext):
    def __init__(self) -> None:
        super().__init__()
        self.trailing: Any = None

    def set_trailing_metadata(self, metadata: Any) -> None:
        self.trailing = metadata


def test_acked_stream_answers_each_message_and_names_the_first_not_acknowledged() -> None:
    publisher = FlakyPublisher()
    processor = BatchProcessor(
        publisher, RecentEvents(100), IngestMetrics(CollectorRegistry()), max_batch=2,
        clock=lambda: NOW,
    )  # fmt: skip
    servicer = IngestServicer(processor)
    requests = [
        ingest_pb2.PublishEventStreamRequest(events=[valid_event(event_id="a")], sequence=7),
        ingest_pb2.PublishEventStreamRequest(  # over the limit: rejected, the stream goes on
            events=[valid_event(event_id=f"b{i}") for i in range(3)], sequence=8
        ),
        ingest_pb2.PublishEventStreamRequest(events=[valid_event(event_id="a")], sequence=9),
        ingest_pb2.PublishEventStreamRequest(events=[valid_event(event_id="c")], sequence=10),
    ]

    def sent() -> Any:
        yield from requests[:3]
        publisher.down = True
        yield requests[3]

    fake = StreamContext()
    context: Any = fake
    answers = []
    with pytest.raises(grpc.RpcError):
        for answer in servicer.PublishEventStream(sent(), context):
            answers.append(answer)
    assert [a.sequence for a in answers] == [7, 8, 9]
    assert [[r.status for r in a.results] for a in answers] == [
        [ACCEPTED],
        [REJECTED] * 3,
        [DUPLICATE],
    ]
    assert answers[1].results[0].reason_code == "batch_too_large"
    assert fake.aborted is not None
    code, details = fake.aborted
    assert code == grpc.StatusCode.UNAVAILABLE
    assert "sequence=10 and any after it were not accepted" in details
    assert "the 3 messages answered before were acknowledged" in details
    assert fake.trailing == ((ACKNOWLEDGED_MESSAGES, "3"),)
