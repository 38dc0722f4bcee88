"""Small typed helpers for clients of the Vinculo gRPC API."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import grpc

from vinculo.domain import MAX_EVENTS_PER_CALL
from vinculo.v1 import events_pb2, ingest_pb2, ingest_pb2_grpc
from vinculo_apps.scrape import scrape_metric

__all__ = ["batches", "publish_events", "scrape_metric", "stream_events"]


def batches(
    events: Sequence[events_pb2.InteractionEvent], size: int = MAX_EVENTS_PER_CALL
) -> Iterator[Sequence[events_pb2.InteractionEvent]]:
    for start in range(0, len(events), size):
        yield events[start : start + size]


def stream_events(
    channel: grpc.Channel,
    events: Sequence[events_pb2.InteractionEvent],
    batch_size: int = MAX_EVENTS_PER_CALL,
    timeout_s: float = 300.0,
) -> ingest_pb2.StreamEventsResponse:
    """Bulk load through StreamEvents, batch_size events per stream message."""
    stub = ingest_pb2_grpc.IngestServiceStub(channel)  # type: ignore[no-untyped-call]
    requests = (ingest_pb2.StreamEventsRequest(events=b) for b in batches(events, batch_size))
    response: ingest_pb2.StreamEventsResponse = stub.StreamEvents(requests, timeout=timeout_s)
    return response


def publish_events(
    channel: grpc.Channel, events: Sequence[events_pb2.InteractionEvent], timeout_s: float = 30.0
) -> list[ingest_pb2.EventResult]:
    """PublishEvents in calls of at most MAX_EVENTS_PER_CALL; the results of all, in order."""
    stub = ingest_pb2_grpc.IngestServiceStub(channel)  # type: ignore[no-untyped-call]
    results: list[ingest_pb2.EventResult] = []
    for batch in batches(events):
        reply = stub.PublishEvents(ingest_pb2.PublishEventsRequest(events=batch), timeout=timeout_s)
        results.extend(reply.results)
    return results
