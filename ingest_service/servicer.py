"""IngestService: validate, drop duplicates, publish both sides, answer per event."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import grpc

from ingest_service.dedupe import EventKey, RecentEvents
from ingest_service.metrics import IngestMetrics
from ingest_service.publisher import BrokerUnavailable, Publisher, Record
from vinculo.grpc_aio_bridge import BridgeContext
from vinculo.grpc_aio_streams import AioBehavior
from vinculo.v1 import events_pb2, ingest_pb2, ingest_pb2_grpc
from vinculo.validation import mirrored_bytes, normalise, validate_event

log = logging.getLogger(__name__)

MAX_REPORTED_REJECTIONS = 1000  # ingest.proto: StreamEventsResponse.rejections


# Trailing metadata of a stream that failed: events its earlier messages got accepted.
ACCEPTED_BEFORE = "vinculo-accepted-before"
BATCH_TOO_LARGE = "batch_too_large"
# Trailing metadata of a PublishEventStream that failed: how many messages were answered.
ACKNOWLEDGED_MESSAGES = "vinculo-acknowledged-messages"


class BatchTooLarge(ValueError):
    """More events in one call (or one stream message) than the API allows."""


@dataclass
class BatchOutcome:
    results: list[ingest_pb2.EventResult]
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0


def records_for(event: events_pb2.InteractionEvent) -> list[Record]:
    """The event keyed by its owner and, when the contact is tracked, the mirrored copy."""
    event.DiscardUnknownFields()  # fields this version does not know are not passed on
    records = [Record(event.owner_id, event.SerializeToString())]
    copy = mirrored_bytes(event)
    if copy is not None:
        records.append(Record(event.contact_id, copy))
    return records


class BatchProcessor:
    """The logic of one call, free of gRPC so that unit tests can drive it."""

    def __init__(
        self,
        publisher: Publisher,
        recent: RecentEvents,
        metrics: IngestMetrics,
        max_batch: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._publisher = publisher
        self._recent = recent
        self._metrics = metrics
        self._max_batch = max_batch
        self._clock = clock

    def reject_all(
        self, events: Sequence[events_pb2.InteractionEvent], reason: str
    ) -> BatchOutcome:
        """Every event rejected, with one reason (a stream message over the size limit)."""
        self._metrics.received.inc(len(events))
        self._metrics.rejected.labels(BATCH_TOO_LARGE).inc(len(events))
        results = [
            ingest_pb2.EventResult(
                event_id=event.event_id,
                status=ingest_pb2.EVENT_STATUS_REJECTED,
                reason=reason,
                reason_code=BATCH_TOO_LARGE,
            )
            for event in events
        ]
        return BatchOutcome(results, rejected=len(results))

    def process(self, events: Sequence[events_pb2.InteractionEvent]) -> BatchOutcome:
        """Raises BatchTooLarge, or BrokerUnavailable with nothing reported accepted."""
        if len(events) > self._max_batch:
            raise BatchTooLarge(
                f"events: {len(events)} events in one call, at most {self._max_batch} allowed"
            )
        self._metrics.received.inc(len(events))
        outcome, accepted_keys, records = self._classify(events)
        if records:
            started = time.perf_counter()
            try:
                self._publisher.publish(records)
            except BrokerUnavailable:
                self._metrics.publish_failures.inc()
                raise
            self._metrics.publish_duration.observe(time.perf_counter() - started)
        # Only acknowledged events count as seen: a retry after UNAVAILABLE must
        # be accepted, not called a duplicate.
        self._recent.add_all(accepted_keys)
        self._metrics.accepted.inc(outcome.accepted)
        self._metrics.duplicate.inc(outcome.duplicates)
        self._metrics.published.inc(len(records))
        return outcome

    def _classify(
        self, events: Sequence[events_pb2.InteractionEvent]
    ) -> tuple[BatchOutcome, list[EventKey], list[Record]]:
        now = self._clock()
        outcome = BatchOutcome(results=[])
        in_batch: set[EventKey] = set()
        records: list[Record] = []
        for event in events:
            result = ingest_pb2.EventResult(event_id=event.event_id)
            normalise(event)  # NFC ids: "josé" typed either way is one contact
            rejection = validate_event(event, now)
            key = (event.owner_id, event.event_id)
            if rejection is not None:
                result.status = ingest_pb2.EVENT_STATUS_REJECTED
                result.reason, result.reason_code = rejection.message, rejection.code
                outcome.rejected += 1
                self._metrics.rejected.labels(rejection.code).inc()
            elif key in in_batch or key in self._recent:
                result.status = ingest_pb2.EVENT_STATUS_DUPLICATE
                outcome.duplicates += 1
            else:
                result.status = ingest_pb2.EVENT_STATUS_ACCEPTED
                outcome.accepted += 1
                in_batch.add(key)
                records.extend(records_for(event))
            outcome.results.append(result)
        return outcome, list(in_batch), records


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, processor: BatchProcessor) -> None:
        self._processor = processor

    def PublishEvents(
        self, request: ingest_pb2.PublishEventsRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.PublishEventsResponse:
        outcome = self._run(request.events, context, accepted_before=0)
        return ingest_pb2.PublishEventsResponse(results=outcome.results)

    def StreamEvents(
        self,
        request_iterator: Iterable[ingest_pb2.StreamEventsRequest],
        context: grpc.ServicerContext,
    ) -> ingest_pb2.StreamEventsResponse:
        summary = ingest_pb2.StreamEventsResponse()
        for request in request_iterator:
            outcome = self._run_stream_message(request.events, context, summary.accepted)
            _add(summary, outcome)
        return summary

    def aio_stream_behaviors(self) -> dict[str, AioBehavior]:
        """The client streams served natively async by an aio server (vinculo.grpc_aio_streams):
        they wait for messages without a thread and publish each in a worker; same protocol
        and answers as the synchronous methods."""
        return {
            "StreamEvents": self._aio_stream_events,
            "PublishEventStream": self._aio_publish_event_stream,
        }

    async def _aio_stream_events(
        self, requests: AsyncIterator[ingest_pb2.StreamEventsRequest], context: BridgeContext
    ) -> AsyncIterator[ingest_pb2.StreamEventsResponse]:
        summary = ingest_pb2.StreamEventsResponse()
        async for request in requests:
            outcome = await context.run_in_worker(
                self._run_stream_message, request.events, context, summary.accepted
            )
            _add(summary, outcome)
        yield summary

    async def _aio_publish_event_stream(
        self,
        requests: AsyncIterator[ingest_pb2.PublishEventStreamRequest],
        context: BridgeContext,
    ) -> AsyncIterator[ingest_pb2.PublishEventStreamResponse]:
        answered = 0
        async for request in requests:
            yield await context.run_in_worker(self._acknowledge, request, answered, context)
            answered += 1

    def PublishEventStream(
        self,
        request_iterator: Iterable[ingest_pb2.PublishEventStreamRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[ingest_pb2.PublishEventStreamResponse]:
        """Each message answered once acknowledged: what was answered is exactly what was
        acknowledged; a broker failure ends the stream UNAVAILABLE naming the first message
        that was not."""
        for answered, request in enumerate(request_iterator):
            yield self._acknowledge(request, answered, context)

    def _acknowledge(
        self,
        request: ingest_pb2.PublishEventStreamRequest,
        answered: int,
        context: grpc.ServicerContext,
    ) -> ingest_pb2.PublishEventStreamResponse:
        """One PublishEventStream message published and answered (`answered` before it)."""
        try:
            outcome = self._processor.process(request.events)
        except BatchTooLarge as exc:
            outcome = self._processor.reject_all(
                request.events, f"{exc}; no event of this message was accepted"
            )
        except BrokerUnavailable as exc:
            context.set_trailing_metadata(((ACKNOWLEDGED_MESSAGES, str(answered)),))
            context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"{exc}; message sequence={request.sequence} and any after it were not"
                f" accepted; the {answered} messages answered before were acknowledged:"
                " resend from this one",
            )
        return ingest_pb2.PublishEventStreamResponse(
            sequence=request.sequence, results=outcome.results
        )

    def _run(
        self,
        events: Sequence[events_pb2.InteractionEvent],
        context: grpc.ServicerContext,
        accepted_before: int,
    ) -> BatchOutcome:
        try:
            return self._processor.process(events)
        except BatchTooLarge as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except BrokerUnavailable as exc:
            message = f"{exc}; no event of this batch was accepted, retry later"
            if accepted_before:
                # A stream's earlier batches were acknowledged: a full retry
                # will see them as duplicates.
                message += f"; {accepted_before} events of earlier batches were accepted"
            # Machine-readable too: what the stream's earlier messages got accepted.
            context.set_trailing_metadata(((ACCEPTED_BEFORE, str(accepted_before)),))
            context.abort(grpc.StatusCode.UNAVAILABLE, message)
        raise AssertionError("context.abort always raises")

    def _run_stream_message(
        self,
        events: Sequence[events_pb2.InteractionEvent],
        context: grpc.ServicerContext,
        accepted_before: int,
    ) -> BatchOutcome:
        """One message of a stream: one too big has each of its events rejected, naming the
        limit, and the stream goes on, so the summary says exactly what was accepted."""
        try:
            return self._processor.process(events)
        except BatchTooLarge as exc:
            return self._processor.reject_all(
                events, f"{exc}; no event of this message was accepted"
            )
        except BrokerUnavailable:
            return self._run(events, context, accepted_before)


def _add(summary: ingest_pb2.StreamEventsResponse, outcome: BatchOutcome) -> None:
    summary.accepted += outcome.accepted
    summary.duplicates += outcome.duplicates
    summary.rejected += outcome.rejected
    room = MAX_REPORTED_REJECTIONS - len(summary.rejections)
    summary.rejections.extend(_rejections(outcome.results, room))


def _rejections(
    results: Iterable[ingest_pb2.EventResult], room: int
) -> Iterator[ingest_pb2.EventResult]:
    if room <= 0:
        return
    for result in results:
        if result.status == ingest_pb2.EVENT_STATUS_REJECTED:
            yield result
            room -= 1
            if room == 0:
                return
