"""A bulk-load client of PublishEventStream: it knows exactly what was acknowledged.

Events go in messages of at most 1,000, numbered by `sequence`; the service
answers each message, in order, once its accepted events are acknowledged
(broker and outbox). So when the stream breaks (the ingest service died:
"Socket closed", UNAVAILABLE), every message answered is acknowledged and the
client reopens the stream and resends from the first message not answered
(`resumes` times, waiting for the service to be ready again).

At most `window` messages are in flight. A message the service had already
acknowledged when it died, but whose answer was lost, is resent and answered
DUPLICATE (the service remembers acknowledged events across restarts through
its outbox). With `window=1` the client never sends a message before the
previous one is answered, so at a crash nothing is acknowledged unanswered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import grpc

from vinculo.domain import MAX_EVENTS_PER_CALL
from vinculo.v1 import events_pb2, ingest_pb2, ingest_pb2_grpc

RESUMABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
MAX_REPORTED_REJECTIONS = 1000


@dataclass
class StreamTally:
    """What the service answered; `messages` = messages acknowledged."""

    messages: int = 0
    events: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[ingest_pb2.EventResult] = field(default_factory=list)
    resumes: int = 0

    def add(self, response: ingest_pb2.PublishEventStreamResponse) -> None:
        self.messages += 1
        for result in response.results:
            self.events += 1
            if result.status == ingest_pb2.EVENT_STATUS_ACCEPTED:
                self.accepted += 1
            elif result.status == ingest_pb2.EVENT_STATUS_DUPLICATE:
                self.duplicates += 1
            else:
                self.rejected += 1
                if len(self.rejections) < MAX_REPORTED_REJECTIONS:
                    self.rejections.append(result)


class StreamBroken(ConnectionError):
    """The stream failed for good; `tally` says exactly which messages were acknowledged."""

    def __init__(self, message: str, tally: StreamTally, code: grpc.StatusCode) -> None:
        super().__init__(message)
        self.tally = tally
        self.code = code


def messages_of(
    events: Sequence[events_pb2.InteractionEvent], size: int = MAX_EVENTS_PER_CALL
) -> list[ingest_pb2.PublishEventStreamRequest]:
    return [
        ingest_pb2.PublishEventStreamRequest(events=events[start : start + size], sequence=i)
        for i, start in enumerate(range(0, len(events), size))
    ]


def _paced(
    messages: Sequence[ingest_pb2.PublishEventStreamRequest],
    slots: threading.Semaphore,
    done: threading.Event,
) -> Iterator[ingest_pb2.PublishEventStreamRequest]:
    """The messages, each once a window slot is free; stops when the call is over."""
    for message in messages:
        while not slots.acquire(timeout=0.2):
            if done.is_set():
                return
        yield message


def publish_stream(
    channel: grpc.Channel,
    events: Sequence[events_pb2.InteractionEvent],
    *,
    batch_size: int = MAX_EVENTS_PER_CALL,
    window: int = 4,
    resumes: int = 3,
    timeout_s: float = 300.0,
    on_answer: Callable[[StreamTally], None] | None = None,
) -> StreamTally:
    """Send every event through PublishEventStream, resuming after a broken stream.

    Raises StreamBroken (with what was acknowledged) when the stream fails
    with a status that a resend cannot cure, or after `resumes` resumes.
    """
    stub = ingest_pb2_grpc.IngestServiceStub(channel)  # type: ignore[no-untyped-call]
    messages = messages_of(events, batch_size)
    tally = StreamTally()
    deadline = time.monotonic() + timeout_s
    while tally.messages < len(messages):
        try:
            _one_stream(stub, messages[tally.messages :], tally, window, deadline, on_answer)
        except grpc.RpcError as exc:
            code = exc.code()
            if code not in RESUMABLE or tally.resumes >= resumes:
                raise StreamBroken(
                    f"PublishEventStream failed ({code.name}: {exc.details()}) after"
                    f" {tally.messages} of {len(messages)} messages were acknowledged",
                    tally,
                    code,
                ) from exc
            tally.resumes += 1
    return tally


def _one_stream(
    stub: ingest_pb2_grpc.IngestServiceStub,
    messages: Sequence[ingest_pb2.PublishEventStreamRequest],
    tally: StreamTally,
    window: int,
    deadline: float,
    on_answer: Callable[[StreamTally], None] | None,
) -> None:
    slots, done = threading.Semaphore(window), threading.Event()
    call = stub.PublishEventStream(
        _paced(messages, slots, done),
        timeout=max(1.0, deadline - time.monotonic()),
        wait_for_ready=tally.resumes > 0,  # after a crash: until the service is back
    )
    try:
        for index, response in enumerate(call):
            expected = messages[index].sequence if index < len(messages) else None
            if response.sequence != expected:
                raise AssertionError(  # a broken service, not a network fault
                    f"answer for sequence {response.sequence}, expected {expected}"
                )
            tally.add(response)
            if on_answer is not None:
                on_answer(tally)  # before the next message may go (tests kill here)
            slots.release()
    finally:
        done.set()
        call.cancel()
