"""Token buckets per caller: all-or-nothing takes, refill at the rate, the wait answered."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from ingest_service.rate_limit import CallerRateInterceptor, TokenBuckets
from vinculo.v1 import events_pb2, ingest_pb2, ingest_pb2_grpc


def test_buckets_refill_at_the_rate_and_answer_the_wait() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=10.0, capacity=20.0, clock=lambda: now[0])
    assert buckets.take("a", 20) == 0.0
    assert buckets.take("a", 5) == 0.5  # refused: nothing taken, half a second to wait
    assert buckets.take("b", 20) == 0.0  # another caller has its own bucket
    now[0] = 0.5
    assert buckets.take("a", 5) == 0.0
    now[0] = 100.0
    assert buckets.take("a", 21) > 0  # never more than the capacity


class _EchoStream(ingest_pb2_grpc.IngestServiceServicer):  # type: ignore[misc]
    """Answers each PublishEventStream message with its sequence, as the service does."""

    def PublishEventStream(
        self, requests: Iterator[ingest_pb2.PublishEventStreamRequest], context: object
    ) -> Iterator[ingest_pb2.PublishEventStreamResponse]:
        for request in requests:
            yield ingest_pb2.PublishEventStreamResponse(sequence=request.sequence)


def _message(sequence: int, events: int) -> ingest_pb2.PublishEventStreamRequest:
    batch = [events_pb2.InteractionEvent(event_id=f"e{i}") for i in range(events)]
    return ingest_pb2.PublishEventStreamRequest(sequence=sequence, events=batch)


def test_the_acknowledged_stream_is_charged_per_message_and_stops_at_the_limit() -> None:
    frozen = TokenBuckets(rate=5.0, capacity=5.0, clock=lambda: 0.0)
    limiter = CallerRateInterceptor(frozen, caller=lambda context: "one caller")
    server = grpc.server(ThreadPoolExecutor(max_workers=2), interceptors=[limiter])
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(_EchoStream(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    answered: list[int] = []
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stream = ingest_pb2_grpc.IngestServiceStub(channel).PublishEventStream
            with pytest.raises(grpc.RpcError) as raised:
                for response in stream(iter([_message(1, 3), _message(2, 2), _message(3, 1)])):
                    answered.append(response.sequence)
    finally:
        server.stop(None)
    assert answered == [1, 2]  # five events: the bucket; the third message is refused
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert dict(raised.value.trailing_metadata() or ())["retry-after"] == "1"
