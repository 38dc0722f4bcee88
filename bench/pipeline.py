"""Ingest -> scored throughput and freshness, through the real services.

Throughput: the events go through IngestService.PublishEvents in batches of
up to 1,000 from a few concurrent clients; the clock runs from the first call
to the moment the scoring service's `vinculo_scoring_events_consumed_total`
has grown by every record the calls published (an event and its mirror are
two records, exactly the records the raw-Kafka peer moves).

Freshness: one event per call; the time from the call returning to a
GetRelationship that reflects it (the relationship exists and its last
interaction is the event's time), polled every few milliseconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc

from bench.datasets import make_event
from bench.stack import Service
from bench.stats import LatencySummary, percentile, wait_until
from vinculo.v1 import events_pb2 as pb
from vinculo.v1 import ingest_pb2, ingest_pb2_grpc, scoring_pb2, scoring_pb2_grpc

CONSUMED = "vinculo_scoring_events_consumed_total"
BATCH = 1000


@dataclass(frozen=True)
class ThroughputResult:
    events: int
    records: int
    accepted: int
    clients: int
    publish_s: float  # first call to the last call answered
    scored_s: float  # first call to the last record consumed by scoring
    call_latency: LatencySummary

    @property
    def ingest_eps(self) -> float:
        return self.events / self.publish_s

    @property
    def events_per_s(self) -> float:
        return self.events / self.scored_s

    @property
    def records_per_s(self) -> float:
        return self.records / self.scored_s


def records_of(events: Sequence[pb.InteractionEvent]) -> int:
    mirrored = sum(1 for e in events if not e.owner_only and e.type != pb.INTERACTION_TYPE_FEEDBACK)
    return len(events) + mirrored


def batches(events: Sequence[pb.InteractionEvent], size: int = BATCH) -> list[bytes]:
    """Pre-serialized PublishEventsRequest messages (built before the clock starts)."""
    return [
        ingest_pb2.PublishEventsRequest(events=events[i : i + size]).SerializeToString()
        for i in range(0, len(events), size)
    ]


def _publisher(channel: grpc.Channel) -> grpc.UnaryUnaryMultiCallable:
    # Requests go out as the bytes serialized up front; answers are decoded.
    return channel.unary_unary(
        "/vinculo.v1.IngestService/PublishEvents",
        request_serializer=None,
        response_deserializer=ingest_pb2.PublishEventsResponse.FromString,
    )


def throughput(
    ingest: Service,
    scoring: Service,
    events: Sequence[pb.InteractionEvent],
    clients: int = 4,
    timeout_s: float = 900.0,
) -> ThroughputResult:
    requests = batches(events)
    expected = records_of(events)
    base = scoring.metric(CONSUMED)
    latencies: list[float] = []
    accepted = 0
    lock = threading.Lock()
    cursor = iter(requests)
    options = [("grpc.max_send_message_length", 64 << 20)]

    def client() -> None:
        nonlocal accepted
        with grpc.insecure_channel(ingest.address, options=options) as channel:
            publish = _publisher(channel)
            while True:
                with lock:
                    request = next(cursor, None)
                if request is None:
                    return
                sent = time.perf_counter()
                reply = publish(request, timeout=60)
                took = time.perf_counter() - sent
                ok = sum(1 for r in reply.results if r.status == ingest_pb2.EVENT_STATUS_ACCEPTED)
                with lock:
                    latencies.append(took)
                    accepted += ok

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    published = time.perf_counter()
    target = base + expected
    wait_until(lambda: scoring.metric(CONSUMED) >= target, timeout_s, 0.05, "scoring to catch up")
    scored = time.perf_counter()
    return ThroughputResult(
        events=len(events),
        records=expected,
        accepted=accepted,
        clients=clients,
        publish_s=published - start,
        scored_s=scored - start,
        call_latency=LatencySummary.of(latencies, published - start),
    )


@dataclass(frozen=True)
class FreshnessResult:
    samples: int
    p50_s: float
    p99_s: float
    max_s: float
    publish_p50_s: float


def _visible(reply: scoring_pb2.GetRelationshipResponse, at_seconds: int) -> bool:
    return bool(reply.relationship.signals.last_interaction.seconds >= at_seconds)


def freshness(
    ingest: Service,
    scoring: Service,
    samples: int,
    workers: int = 4,
    poll_s: float = 0.002,
    timeout_s: float = 30.0,
    tag: str = "",
) -> FreshnessResult:
    """`samples` single-event publishes, `workers` at a time, each polled until visible."""
    delays: list[float] = []
    publish_times: list[float] = []
    lock = threading.Lock()
    now = time.time()

    def one(i: int) -> None:
        owner, contact = f"fresh{tag}:o{i % 7}", f"fresh{tag}:c{i}"
        at = now - 3600.0 + i  # distinct seconds, never in the future
        event = make_event(f"fresh{tag}-{i}", owner, contact, at, channel="bench")
        sent = time.perf_counter()
        ingest_stub.PublishEvents(ingest_pb2.PublishEventsRequest(events=[event]), timeout=30)
        returned = time.perf_counter()
        request = scoring_pb2.GetRelationshipRequest(owner_id=owner, contact_id=contact)
        deadline = returned + timeout_s
        while time.perf_counter() < deadline:
            try:
                if _visible(scoring_stub.GetRelationship(request, timeout=5), int(at)):
                    break
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    raise
            time.sleep(poll_s)
        else:
            raise TimeoutError(f"event {event.event_id} not visible within {timeout_s} s")
        seen = time.perf_counter()
        with lock:
            delays.append(seen - returned)
            publish_times.append(returned - sent)

    with (
        grpc.insecure_channel(ingest.address) as ingest_channel,
        grpc.insecure_channel(scoring.address) as scoring_channel,
    ):
        ingest_stub = ingest_pb2_grpc.IngestServiceStub(ingest_channel)  # type: ignore[no-untyped-call]
        scoring_stub = scoring_pb2_grpc.ScoringServiceStub(scoring_channel)  # type: ignore[no-untyped-call]
        one(-1)  # warm both channels; not counted
        delays.clear()
        publish_times.clear()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, range(samples)))
    return FreshnessResult(
        samples=len(delays),
        p50_s=percentile(delays, 50),
        p99_s=percentile(delays, 99),
        max_s=max(delays),
        publish_p50_s=percentile(publish_times, 50),
    )
