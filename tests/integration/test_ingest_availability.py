"""Idle streams and undecodable requests at the real ingest service (issue 22, 6 and 10)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.harness import ServiceProcess, wait_until
from tests.integration.test_ingest import ACCEPTED, event
from vinculo.v1 import ingest_pb2, ingest_pb2_grpc

pytestmark = pytest.mark.integration

IDLE_STREAMS = 16


def idle_until(release: threading.Event, event_id: str) -> Iterator[ingest_pb2.StreamEventsRequest]:
    """A client stream that sends nothing until released, then one event."""
    release.wait(timeout=120)
    yield ingest_pb2.StreamEventsRequest(events=[event(event_id)])


def test_sixteen_idle_streams_leave_publishing_and_health_answering(
    ingest: ServiceProcess,
) -> None:
    release = threading.Event()
    with grpc.insecure_channel(ingest.address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        streams = [
            stub.StreamEvents.future(idle_until(release, f"s{i}"), timeout=120)
            for i in range(IDLE_STREAMS)
        ]
        try:
            # Calls over the per-caller limit (4 by default) are refused at once.
            wait_until(
                lambda: sum(s.done() for s in streams) >= IDLE_STREAMS - 4,
                timeout_s=60,
                what="the streams over the limit to be refused",
            )
            refused = [s for s in streams if s.done()]
            for call in refused:
                assert call.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "at most 4 open streams per caller" in call.details()
                assert "VINCULO_INGEST_MAX_STREAMS_PER_CALLER" in call.details()
            # While four streams sit idle, publishing and health answer promptly.
            started = time.monotonic()
            reply = stub.PublishEvents(
                ingest_pb2.PublishEventsRequest(events=[event("p1")]), timeout=5
            )
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
            assert [r.status for r in reply.results] == [ACCEPTED]
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            assert time.monotonic() - started < 5
        finally:
            release.set()
        admitted = [s for s in streams if s not in refused]
        summaries = [s.result(timeout=60) for s in admitted]
    # The four admitted streams end normally once their client sends.
    assert [s.accepted for s in summaries] == [1, 1, 1, 1]
    assert ingest.metric(
        "grpc_server_handled_total", grpc_method="StreamEvents", grpc_code="RESOURCE_EXHAUSTED"
    ) == (IDLE_STREAMS - 4)


def test_undecodable_requests_answer_invalid_argument_counted_and_logged_once(
    ingest: ServiceProcess,
) -> None:
    bad_utf8 = b"\x0a\x06\x0a\x04\xff\xfe\xfd\xfc"  # events[0].event_id: not UTF-8
    not_protobuf = b"\xff\xff\xff\xff\xff"
    with grpc.insecure_channel(ingest.address) as channel:
        call = channel.unary_unary(
            "/vinculo.v1.IngestService/PublishEvents",
            request_serializer=lambda raw: raw,
            response_deserializer=ingest_pb2.PublishEventsResponse.FromString,
        )
        for payload in (bad_utf8, not_protobuf):
            with pytest.raises(grpc.RpcError) as failure:
                call(payload, timeout=10)
            assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "PublishEventsRequest" in failure.value.details()
        stream = channel.stream_unary(
            "/vinculo.v1.IngestService/StreamEvents",
            request_serializer=lambda raw: raw,
            response_deserializer=ingest_pb2.StreamEventsResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as failure:
            stream(iter([bad_utf8]), timeout=10)
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # The service is unharmed.
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        reply = stub.PublishEvents(ingest_pb2.PublishEventsRequest(events=[event("ok")]))
        assert [r.status for r in reply.results] == [ACCEPTED]
    for method, calls in (("PublishEvents", 2), ("StreamEvents", 1)):
        counted = ingest.metric(
            "grpc_server_handled_total", grpc_method=method, grpc_code="INVALID_ARGUMENT"
        )
        assert counted == calls
    log = ingest.log_text()
    assert "Traceback" not in log
    assert log.count("undecodable request answered INVALID_ARGUMENT") == 3
