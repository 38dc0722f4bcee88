"""The shared server runtime, tested like grpc's own: a real server on port 0, a real stub."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client import CollectorRegistry

from vinculo.grpc_server import ServiceServer
from vinculo.v1 import scoring_pb2, scoring_pb2_grpc


class _Scoring(scoring_pb2_grpc.ScoringServiceServicer):  # type: ignore[misc]
    def GetNetworkSummary(
        self, request: scoring_pb2.GetNetworkSummaryRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.GetNetworkSummaryResponse:
        if not request.owner_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "owner_id: required")
        return scoring_pb2.GetNetworkSummaryResponse(owner_id=request.owner_id)


@pytest.fixture
def served() -> Iterator[tuple[grpc.Channel, CollectorRegistry]]:
    registry = CollectorRegistry()
    server = ServiceServer(registry, max_workers=2)
    server.add(
        scoring_pb2_grpc.add_ScoringServiceServicer_to_server,
        _Scoring(),
        "vinculo.v1.ScoringService",
    )
    port = server.start("127.0.0.1", 0)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel, registry
    finally:
        channel.close()
        server.stop(0)


def _count(registry: CollectorRegistry, code: str) -> float:
    labels = {"service": "vinculo.v1.ScoringService", "method": "GetNetworkSummary", "code": code}
    return registry.get_sample_value("vinculo_grpc_requests_total", labels) or 0.0


def test_counts_requests_by_status_code(
    served: tuple[grpc.Channel, CollectorRegistry],
) -> None:
    channel, registry = served
    stub = scoring_pb2_grpc.ScoringServiceStub(channel)
    stub.GetNetworkSummary(scoring_pb2.GetNetworkSummaryRequest(owner_id="ana"))
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetNetworkSummary(scoring_pb2.GetNetworkSummaryRequest())
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "owner_id" in (raised.value.details() or "")
    assert _count(registry, "OK") == 1
    assert _count(registry, "INVALID_ARGUMENT") == 1
    latency = registry.get_sample_value(
        "vinculo_grpc_request_duration_seconds_count",
        {"service": "vinculo.v1.ScoringService", "method": "GetNetworkSummary"},
    )
    assert latency == 2


def test_health_reports_serving_for_each_service(
    served: tuple[grpc.Channel, CollectorRegistry],
) -> None:
    channel, _ = served
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", "vinculo.v1.ScoringService"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_service(served: tuple[grpc.Channel, CollectorRegistry]) -> None:
    channel, _ = served
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    reply = next(stub.ServerReflectionInfo(iter([request])))
    names = {s.name for s in reply.list_services_response.service}
    assert {"vinculo.v1.ScoringService", "grpc.health.v1.Health"} <= names
