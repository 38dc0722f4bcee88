"""Publishing a stream of events through the gRPC ingest API, pipelined.

Events are cut into batches of at most 1,000 (the API limit) and sent with
`PublishEvents`, keeping a few calls in flight so the client never waits for
one acknowledgement before sending the next batch. `PublishEvents` (rather
than `StreamEvents`) answers per event, so the final count of rejections by
reason is exact however many there are.

A call that fails with UNAVAILABLE was not accepted at all (ingest.proto), so
it is retried; a retried batch may partly have landed, which the services
treat as duplicates by event id.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from itertools import islice

import grpc

from vinculo.domain import MAX_EVENTS_PER_CALL
from vinculo.security.channel import PLAINTEXT, ClientSecurity, open_channel
from vinculo.v1 import events_pb2, ingest_pb2, ingest_pb2_grpc

IN_FLIGHT = 4
RETRIES = 5
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
CALL_TIMEOUT_S = 60.0
# Nothing answering at the address is found out this fast, before any retry.
CONNECT_TIMEOUT_S = 2.0


class IngestUnreachable(ConnectionError):
    """Nothing answers at the ingest address: the message says where and what to check."""


@dataclass
class PublishSummary:
    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # by reason code
    examples: dict[str, str] = field(default_factory=dict)  # reason code -> one message
    calls: int = 0
    retries: int = 0

    @property
    def total(self) -> int:
        return self.accepted + self.duplicates + sum(self.rejected.values())

    def add(self, response: ingest_pb2.PublishEventsResponse) -> None:
        for result in response.results:
            if result.status == ingest_pb2.EVENT_STATUS_ACCEPTED:
                self.accepted += 1
            elif result.status == ingest_pb2.EVENT_STATUS_DUPLICATE:
                self.duplicates += 1
            else:
                code = result.reason_code or "unknown"
                self.rejected[code] += 1
                self.examples.setdefault(code, f"{result.event_id}: {result.reason}")


def batches(
    events: Iterable[events_pb2.InteractionEvent], size: int
) -> Iterator[list[events_pb2.InteractionEvent]]:
    iterator = iter(events)
    while batch := list(islice(iterator, size)):
        yield batch


@dataclass
class _Call:
    request: ingest_pb2.PublishEventsRequest
    future: Future[ingest_pb2.PublishEventsResponse]
    attempts: int = 1


class IngestClient:
    """Sends batches to one ingest address; use as a context manager."""

    def __init__(
        self,
        address: str,
        in_flight: int = IN_FLIGHT,
        batch_size: int = MAX_EVENTS_PER_CALL,
        security: ClientSecurity = PLAINTEXT,
    ):
        self.address = address
        self.channel = open_channel(address, security)
        self.stub = ingest_pb2_grpc.IngestServiceStub(self.channel)  # type: ignore[no-untyped-call]
        self.in_flight = in_flight
        self.batch_size = min(batch_size, MAX_EVENTS_PER_CALL)

    def __enter__(self) -> IngestClient:
        try:
            grpc.channel_ready_future(self.channel).result(timeout=CONNECT_TIMEOUT_S)
        except grpc.FutureTimeoutError:
            self.channel.close()
            raise IngestUnreachable(
                f"no ingest service answers at {self.address} within {CONNECT_TIMEOUT_S:g} s: "
                "is `vinculo up` running? Point --ingest or VINCULO_INGEST_ADDRESS at it"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.channel.close()

    def _send(self, request: ingest_pb2.PublishEventsRequest, attempts: int = 1) -> _Call:
        future = self.stub.PublishEvents.future(request, timeout=CALL_TIMEOUT_S)
        return _Call(request, future, attempts)

    def publish(
        self,
        events: Iterable[events_pb2.InteractionEvent],
        on_progress: Callable[[int], None] = lambda n: None,
    ) -> PublishSummary:
        """Publish every event; `on_progress(n)` after each acknowledged batch of n."""
        summary = PublishSummary()
        pending: list[_Call] = []
        for batch in batches(events, self.batch_size):
            pending.append(self._send(ingest_pb2.PublishEventsRequest(events=batch)))
            while len(pending) >= self.in_flight:
                self._finish(pending, summary, on_progress)
        while pending:
            self._finish(pending, summary, on_progress)
        return summary

    def _finish(
        self, pending: list[_Call], summary: PublishSummary, on_progress: Callable[[int], None]
    ) -> None:
        call = pending.pop(0)
        try:
            response = call.future.result()
        except grpc.RpcError as exc:
            code = exc.code()
            if code not in RETRYABLE or call.attempts > RETRIES:
                raise
            summary.retries += 1
            time.sleep(min(0.2 * 2**call.attempts, 5.0))
            pending.insert(0, self._send(call.request, call.attempts + 1))
            return
        summary.calls += 1
        summary.add(response)
        on_progress(len(call.request.events))
