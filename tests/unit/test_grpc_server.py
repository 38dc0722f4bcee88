"""The shared server runtime, tested like grpc's own: a real server on port 0, a real stub."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
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

    def __init__(self) -> None:
        self.first_sent = threading.Event()

    def WatchRelationships(
        self, request: scoring_pb2.WatchRelationshipsRequest, context: grpc.ServicerContext
    ) -> Iterator[scoring_pb2.WatchRelationshipsResponse]:
        for _ in range(10_000):  # bounded: a cancelled client ends it long before
            if not context.is_active():
                return
            yield scoring_pb2.WatchRelationshipsResponse()
            self.first_sent.set()


SERVICE = "vinculo.v1.ScoringService"
_SCORING = _Scoring()


@pytest.fixture
def served() -> Iterator[tuple[grpc.Channel, CollectorRegistry]]:
    registry = CollectorRegistry()
    server = ServiceServer(registry, max_workers=2)
    _SCORING.first_sent.clear()
    server.add(scoring_pb2_grpc.add_ScoringServiceServicer_to_server, _SCORING, SERVICE)
    port = server.start("127.0.0.1", 0)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel, registry
    finally:
        channel.close()
        server.stop(0)


def _labels(method: str = "GetNetworkSummary", kind: str = "unary") -> dict[str, str]:
    return {"grpc_type": kind, "grpc_service": SERVICE, "grpc_method": method}


def _count(registry: CollectorRegistry, code: str, **labels: str) -> float | None:
    return registry.get_sample_value(
        "grpc_server_handled_total", {**_labels(**labels), "grpc_code": code}
    )


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
    assert registry.get_sample_value("grpc_server_started_total", _labels()) == 2
    assert registry.get_sample_value("grpc_server_msg_received_total", _labels()) == 2
    assert registry.get_sample_value("grpc_server_msg_sent_total", _labels()) == 1
    assert registry.get_sample_value("grpc_server_handling_seconds_count", _labels()) == 2


def test_every_series_exists_at_zero_before_the_first_call(
    served: tuple[grpc.Channel, CollectorRegistry],
) -> None:
    _, registry = served
    stream = _labels("WatchRelationships", "server_stream")
    assert registry.get_sample_value("grpc_server_started_total", stream) == 0
    assert _count(registry, "CANCELLED", method="WatchRelationships", kind="server_stream") == 0
    assert _count(registry, "UNAVAILABLE", method="GetRelationship") == 0
    health = {"grpc_type": "unary", "grpc_service": "grpc.health.v1.Health", "grpc_method": "Check"}
    assert registry.get_sample_value("grpc_server_handling_seconds_count", health) == 0


def test_a_stream_the_client_cancelled_counts_as_cancelled(
    served: tuple[grpc.Channel, CollectorRegistry],
) -> None:
    channel, registry = served
    stub = scoring_pb2_grpc.ScoringServiceStub(channel)
    call = stub.WatchRelationships(scoring_pb2.WatchRelationshipsRequest(owner_id="ana"))
    next(call)
    assert _SCORING.first_sent.wait(10)
    call.cancel()
    labels = {"method": "WatchRelationships", "kind": "server_stream"}
    for _ in range(200):  # the server notices the cancellation on its next message
        if _count(registry, "CANCELLED", **labels):
            break
        threading.Event().wait(0.05)
    assert _count(registry, "CANCELLED", **labels) == 1
    assert _count(registry, "OK", **labels) == 0
    sent = registry.get_sample_value(
        "grpc_server_msg_sent_total", _labels("WatchRelationships", "server_stream")
    )
    assert sent is not None and sent >= 1


def test_health_reports_serving_for_each_service(
    served: tuple[grpc.Channel, CollectorRegistry],
) -> None:
    channel, _ = served
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", "vinculo.v1.ScoringService"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_v1_and_v1alpha_list_and_describe_the_services(
    served: tuple[grpc.Channel, CollectorRegistry], version: str
) -> None:
    channel, _ = served
    info = channel.stream_stream(  # v1 and v1alpha messages are the same on the wire
        f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE),
        reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="grpc.reflection.v1.ServerReflection"
        ),
    ]
    listed, described, itself = list(info(iter(requests), timeout=10))
    names = {s.name for s in listed.list_services_response.service}
    expected = {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"}
    assert expected | {"grpc.reflection.v1alpha.ServerReflection"} <= names
    assert described.file_descriptor_response.file_descriptor_proto
    assert itself.file_descriptor_response.file_descriptor_proto
    assert not itself.HasField("error_response")


def test_liveness_serves_while_readiness_waits_for_set_ready() -> None:
    server = ServiceServer(CollectorRegistry(), max_workers=2, ready_at_start=False)
    server.add(scoring_pb2_grpc.add_ScoringServiceServicer_to_server, _Scoring(), SERVICE)
    port = server.start("127.0.0.1", 0)
    serving, not_serving = (
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)

            def status(name: str) -> int:
                request = health_pb2.HealthCheckRequest(service=name)
                return int(health.Check(request, timeout=5).status)

            assert status("liveness") == serving
            assert [status(n) for n in ("", "readiness", SERVICE)] == [not_serving] * 3
            server.set_ready(True)
            assert [status(n) for n in ("", "readiness", SERVICE)] == [serving] * 3
            server.set_serving(False)
            assert status("liveness") == not_serving
    finally:
        server.stop(0)
