"""Serving latency of the scoring service against a bare grpcio echo server.

Owners with 100 ... 30,000 relationships are loaded straight onto the
interaction topic (one owner-only event per relationship, as the ingest
service would write it). For each owner, ListRelationships (top 10) and
GetRelationship are driven at concurrency 1 and 32. The echo server answers
with the very bytes the service answered for the 1,000-relationship owner,
on a thread pool of the same size, driven by the same client that decodes
the same message: the difference is what Vinculo's handler costs.

Those reads repeat "as of now" and are served from the per-owner cache of
scored networks, as a dashboard's would be. Reads the cache does not answer
are measured by `bench.cold_reads`, on scoring processes of their own.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import grpc

from bench.datasets import contact_of, synthetic_events
from bench.echo import METHOD as echo_method
from bench.loadgen import CallFactory, run_load, unary_call
from bench.raw_kafka import publish_direct
from bench.stack import Stack, echo_server
from bench.stats import LatencySummary, ratio, wait_until
from vinculo.v1 import scoring_pb2

CONSUMED = "vinculo_scoring_events_consumed_total"
SERVICE = "/vinculo.v1.ScoringService/"
REFERENCE_SIZE = 1000  # the echo payload is the answer for this owner


def owner_for(size: int) -> str:
    return f"serve:n{size}"


def load_owners(stack: Stack, sizes: Sequence[int], timeout_s: float = 600.0) -> float:
    """Publish every owner's relationships; returns seconds until scoring applied them."""
    assert stack.scoring is not None
    base = stack.scoring.metric(CONSUMED)
    start = time.perf_counter()
    total = 0
    for size in sizes:
        events = synthetic_events(owner_for(size), range(size), seed=size, tag="serve")
        records, _ = publish_direct(stack.broker.bootstrap, events)
        total += records
    scoring = stack.scoring
    wait_until(lambda: scoring.metric(CONSUMED) >= base + total, timeout_s, 0.1, "owners loaded")
    return time.perf_counter() - start


@dataclass(frozen=True)
class Call:
    method: str  # "list_top10" or "get"
    path: str
    request: bytes
    decode: Any
    echo: str  # the method whose echo peer answers with this call's payload size
    max_concurrency: int | None = None

    def factory(self, path: str | None = None) -> CallFactory:
        """The call on the service, or with `path` on another server (the echo)."""
        return unary_call(path or self.path, self.request, self.decode)


def calls_for(size: int) -> list[Call]:
    """The calls measured on one owner."""
    owner = owner_for(size)
    listing = scoring_pb2.ListRelationshipsRequest(owner_id=owner, page_size=10)
    contact = contact_of(owner, size // 2)
    get = scoring_pb2.GetRelationshipRequest(owner_id=owner, contact_id=contact)
    list_path, decode_list = SERVICE + "ListRelationships", scoring_pb2.ListRelationshipsResponse
    return [
        Call("list_top10", list_path, listing.SerializeToString(), decode_list.FromString, "list"),
        Call(
            "get",
            SERVICE + "GetRelationship",
            get.SerializeToString(),
            scoring_pb2.GetRelationshipResponse.FromString,
            "get",
        ),
    ]


def capture(address: str, call: Call) -> bytes:
    """One real answer, as bytes: what the echo server will send back."""
    with grpc.insecure_channel(address) as channel:
        stub = channel.unary_unary(call.path, request_serializer=None, response_deserializer=None)
        payload: bytes = stub(call.request, timeout=60)
    return payload


@dataclass(frozen=True)
class ServingRow:
    relationships: int
    method: str
    concurrency: int
    p50_ms: float
    p99_ms: float
    qps: float
    requests: int
    response_bytes: int
    echo_p50_ms: float
    echo_p99_ms: float
    echo_qps: float

    @property
    def p50_ratio(self) -> float:
        return ratio(self.p50_ms, self.echo_p50_ms)

    @property
    def p99_ratio(self) -> float:
        return ratio(self.p99_ms, self.echo_p99_ms)

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["p50_vs_echo"] = self.p50_ratio
        row["p99_vs_echo"] = self.p99_ratio
        return row


def measure(
    stack: Stack,
    root: Path,
    sizes: Sequence[int],
    concurrencies: Sequence[int],
    duration_s: float,
    workers: int,
    min_requests: int = 50,
    max_size_at_high_concurrency: int | None = None,
) -> list[ServingRow]:
    """Rows for every size, method and concurrency (concurrency above 1 only up to
    `max_size_at_high_concurrency` relationships, when set: quick mode)."""
    scoring = stack.scoring
    assert scoring is not None
    reference = REFERENCE_SIZE if REFERENCE_SIZE in sizes else sizes[0]
    echo: dict[tuple[str, int], LatencySummary] = {}
    for call in calls_for(reference):
        if (call.echo, concurrencies[0]) in echo:
            continue  # this payload's peer is measured already
        payload = capture(scoring.address, call)
        server = stack.start_extra(echo_server(root, call.echo, payload, workers))
        try:
            for concurrency in concurrencies:
                echo[(call.echo, concurrency)] = run_load(
                    server.address, call.factory(echo_method), concurrency, duration_s, min_requests
                )
        finally:
            stack.stop_extra(server)
    rows: list[ServingRow] = []
    for size in sizes:
        for call in calls_for(size):
            size_bytes = len(capture(scoring.address, call))
            for concurrency in concurrencies:
                limit = max_size_at_high_concurrency
                if concurrency > 1 and limit is not None and size > limit:
                    continue
                if call.max_concurrency is not None and concurrency > call.max_concurrency:
                    continue
                result = run_load(
                    scoring.address, call.factory(), concurrency, duration_s, min_requests
                )
                rows.append(_row(result, call, size, concurrency, size_bytes, echo))
    return rows


def _row(
    result: LatencySummary,
    call: Call,
    size: int,
    concurrency: int,
    size_bytes: int,
    echo: dict[tuple[str, int], LatencySummary],
) -> ServingRow:
    peer = echo[(call.echo, concurrency)]
    return ServingRow(
        relationships=size,
        method=call.method,
        concurrency=concurrency,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        qps=result.qps,
        requests=result.count,
        response_bytes=size_bytes,
        echo_p50_ms=peer.p50_ms,
        echo_p99_ms=peer.p99_ms,
        echo_qps=peer.qps,
    )
