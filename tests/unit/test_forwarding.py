"""The forwarding interceptor between two real in-process gRPC servers on loopback.

Each server runs `ForwardingInterceptor` in front of a small ScoringService that
answers ListRelationships with what it saw (which server, the caller's metadata,
the deadline left); each has a `PartitionDirectory` fed by hand as the consumer
would feed it. No broker: the routing rules themselves, fast.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry

from scoring_service.routing.directory import PartitionDirectory
from scoring_service.routing.forwarding import FORWARDED_BY, RETRY_AFTER, ForwardingInterceptor
from vinculo.partitioning import partition_of
from vinculo.v1 import scoring_pb2 as pb
from vinculo.v1 import scoring_pb2_grpc

PARTITIONS = 4
OWNER = "ana"
HOME = partition_of(OWNER, PARTITIONS)
WAIT_S = 2.0  # VINCULO_SCORING_ROUTE_WAIT_S of both instances
MAX_CALL_S = 2.0  # VINCULO_GRPC_MAX_CALL_S of both instances


class Answering(scoring_pb2_grpc.ScoringServiceServicer):  # type: ignore[misc]
    def __init__(self, name: str) -> None:
        self.name = name
        self.deadlines: list[float | None] = []

    def ListRelationships(self, request: Any, context: grpc.ServicerContext) -> Any:
        metadata = dict(context.invocation_metadata())
        self.deadlines.append(context.time_remaining())
        context.set_trailing_metadata((("answered-by", self.name),))
        return pb.ListRelationshipsResponse(
            next_page_token=f"{self.name}|{metadata.get('x-caller', '')}|{request.page_token}",
            total_size=1 if FORWARDED_BY in metadata else 0,
        )

    def WatchRelationships(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        """One change naming who answered, the owner as received and the deadline it had."""
        remaining = context.time_remaining()
        self.deadlines.append(remaining)
        yield pb.WatchRelationshipsResponse(
            contact_id=f"{self.name}|{request.owner_id}|{remaining}"
        )


@dataclass
class Instance:
    name: str
    address: str
    directory: PartitionDirectory
    servicer: Answering
    registry: CollectorRegistry


@pytest.fixture
def pair() -> Iterator[tuple[Instance, Instance]]:
    servers: list[tuple[Any, ForwardingInterceptor]] = []
    instances: list[Instance] = []
    for name in ("one", "two"):
        registry = CollectorRegistry()
        directory = PartitionDirectory(PARTITIONS, "")
        interceptor = ForwardingInterceptor(directory, WAIT_S, registry, max_call_s=MAX_CALL_S)
        server = grpc.server(futures.ThreadPoolExecutor(8), interceptors=[interceptor])
        servicer = Answering(name)
        scoring_pb2_grpc.add_ScoringServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        directory.own_address = f"127.0.0.1:{port}"
        server.start()
        servers.append((server, interceptor))
        instances.append(Instance(name, directory.own_address, directory, servicer, registry))
    try:
        yield instances[0], instances[1]
    finally:
        for server, interceptor in servers:
            server.stop(None).wait()
            interceptor.close()


def settle(instance: Instance, routes: dict[int, str], held: set[int]) -> None:
    """What the consumer tells the directory after a rebalance, caught up at once."""
    instance.directory.routes_assigned(routes, 1)
    instance.directory.partitions_assigned({p: 0 for p in held}, PARTITIONS)
    for p in held:
        instance.directory.log_end(p, 0)


def ask(address: str, timeout: float = 5.0, token: str = "") -> tuple[Any, dict[str, str]]:
    with grpc.insecure_channel(address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        request = pb.ListRelationshipsRequest(owner_id=OWNER, page_token=token)
        reply, call = stub.ListRelationships.with_call(
            request, timeout=timeout, metadata=(("x-caller", "c-1"),)
        )
        return reply, dict(call.trailing_metadata() or ())


def forwarded(instance: Instance) -> float:
    value = instance.registry.get_sample_value(
        "vinculo_scoring_forwarded_calls_total", {"method": "ListRelationships"}
    )
    return value or 0.0


def test_a_call_for_a_partition_held_elsewhere_is_forwarded_with_metadata_and_deadline(
    pair: tuple[Instance, Instance],
) -> None:
    one, two = pair
    routes = {p: (two.address if p == HOME else one.address) for p in range(PARTITIONS)}
    settle(one, routes, {p for p in range(PARTITIONS) if p != HOME})
    settle(two, routes, {HOME})
    reply, trailing = ask(one.address, timeout=4.0, token="page-2")
    # Answered by the holder, with the caller's metadata and page token, marked as forwarded.
    assert reply.next_page_token == "two|c-1|page-2" and reply.total_size == 1
    assert trailing.get("answered-by") == "two"
    assert forwarded(one) == 1 and forwarded(two) == 0
    deadline = two.servicer.deadlines[-1]
    assert deadline is not None and 0 < deadline < 4.0
    # Asked of the holder itself: answered there, not forwarded.
    reply, _ = ask(two.address)
    assert reply.next_page_token == "two|c-1|" and reply.total_size == 0
    assert one.servicer.deadlines == []


def test_a_moving_partition_answers_unavailable_with_a_retry_hint_within_the_wait(
    pair: tuple[Instance, Instance],
) -> None:
    one, _ = pair  # never assigned: the group is still rebalancing
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        ask(one.address)
    waited = time.monotonic() - started
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "rebalance" in (caught.value.details() or "")
    assert dict(caught.value.trailing_metadata() or ()).get(RETRY_AFTER) == "1000"
    assert WAIT_S * 0.9 <= waited < WAIT_S + 2.0
    assert one.servicer.deadlines == []
    unavailable = one.registry.get_sample_value(
        "vinculo_scoring_partition_unavailable_total", {"method": "ListRelationships"}
    )
    assert unavailable == 1


def test_a_forwarded_call_is_never_forwarded_again(pair: tuple[Instance, Instance]) -> None:
    """Two tables that disagree (each thinks the other holds the owner) end in
    UNAVAILABLE after one hop, not in a loop."""
    one, two = pair
    settle(one, {p: two.address for p in range(PARTITIONS)}, set())
    settle(two, {p: one.address for p in range(PARTITIONS)}, set())
    with pytest.raises(grpc.RpcError) as caught:
        ask(one.address)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "moved while the call was forwarded" in (caught.value.details() or "")
    assert forwarded(one) == 1 and forwarded(two) == 0


def test_a_short_caller_deadline_gets_unavailable_before_it_expires(
    pair: tuple[Instance, Instance],
) -> None:
    one, _ = pair
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        ask(one.address, timeout=1.0)  # waits 80% of it (0.8 s), less than WAIT_S
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # not DEADLINE_EXCEEDED
    assert time.monotonic() - started < 1.0


def test_a_forwarded_stream_without_a_deadline_gets_none_and_a_unary_call_the_servers_bound(
    pair: tuple[Instance, Instance],
) -> None:
    """A watch stream lives until its caller ends it: forwarded without a deadline, it
    has none at the holder (grpcio's 9.2e18 s passed on as a timeout ended it at once).
    A unary call without one is bounded by the server's maximum call time plus a
    margin, so the holder's own limit answers."""
    one, two = pair
    routes = {p: (two.address if p == HOME else one.address) for p in range(PARTITIONS)}
    settle(one, routes, {p for p in range(PARTITIONS) if p != HOME})
    settle(two, routes, {HOME})
    with grpc.insecure_channel(one.address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        changes = list(stub.WatchRelationships(pb.WatchRelationshipsRequest(owner_id=OWNER)))
        stub.ListRelationships(pb.ListRelationshipsRequest(owner_id=OWNER))
    (change,) = changes
    answered_by, owner, deadline = change.contact_id.split("|")
    assert (answered_by, owner) == ("two", OWNER)
    assert float(deadline) > 1e15  # grpcio's "no deadline" (it was 9.2e18 s: DEADLINE_EXCEEDED)
    unary_deadline = two.servicer.deadlines[-1]
    assert unary_deadline is not None and MAX_CALL_S < unary_deadline < MAX_CALL_S + 1.5
    assert one.servicer.deadlines == []


def test_an_owner_spelled_decomposed_is_routed_by_its_composed_form(
    pair: tuple[Instance, Instance],
) -> None:
    """The request's bytes go on as received (the holder normalises them itself), but the
    route is the composed spelling's: both spellings of one owner reach one holder."""
    composed, decomposed = "jos\u00e9", "jose\u0301"
    home = partition_of(composed, PARTITIONS)
    one, two = pair
    routes = {p: (two.address if p == home else one.address) for p in range(PARTITIONS)}
    settle(one, routes, {p for p in range(PARTITIONS) if p != home})
    settle(two, routes, {home})
    with grpc.insecure_channel(one.address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        for spelling in (composed, decomposed):
            request = pb.WatchRelationshipsRequest(owner_id=spelling)
            (change,) = stub.WatchRelationships(request, timeout=5)
            assert change.contact_id.startswith(f"two|{composed}|")
    assert forwarded_watches(one) == 2 and forwarded_watches(two) == 0


def forwarded_watches(instance: Instance) -> float:
    value = instance.registry.get_sample_value(
        "vinculo_scoring_forwarded_calls_total", {"method": "WatchRelationships"}
    )
    return value or 0.0
