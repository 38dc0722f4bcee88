"""JSON log lines carry level, logger, message, the call's method, code and request id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import grpc
import pytest
from prometheus_client import CollectorRegistry

from vinculo.grpc_server import ServiceServer
from vinculo.logs import JsonFormatter, RequestContextFilter
from vinculo.v1 import scoring_pb2, scoring_pb2_grpc

SERVICE = "vinculo.v1.ScoringService"


class _Scoring(scoring_pb2_grpc.ScoringServiceServicer):  # type: ignore[misc]
    def GetNetworkSummary(
        self, request: scoring_pb2.GetNetworkSummaryRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.GetNetworkSummaryResponse:
        logging.getLogger("test.servicer").warning("looking up")
        if request.owner_id == "fail":
            context.abort(grpc.StatusCode.UNAVAILABLE, "broker down")
        return scoring_pb2.GetNetworkSummaryResponse(owner_id=request.owner_id)


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def test_json_lines_carry_method_code_and_request_id(lines: io.StringIO) -> None:
    server = ServiceServer(CollectorRegistry(), max_workers=2)
    server.add(scoring_pb2_grpc.add_ScoringServiceServicer_to_server, _Scoring(), SERVICE)
    port = server.start("127.0.0.1", 0)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = scoring_pb2_grpc.ScoringServiceStub(channel)
            request = scoring_pb2.GetNetworkSummaryRequest(owner_id="ana")
            stub.GetNetworkSummary(request, metadata=[("x-request-id", "req-42")], timeout=5)
            with pytest.raises(grpc.RpcError):
                failing = scoring_pb2.GetNetworkSummaryRequest(owner_id="fail")
                stub.GetNetworkSummary(failing, metadata=[("x-request-id", "bad id!")])
    finally:
        server.stop(0)
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    method = f"/{SERVICE}/GetNetworkSummary"
    ours = [r for r in records if r.get("grpc_method") == method]
    assert {"time", "level", "logger", "message"} <= set(ours[0])
    assert ours[0]["logger"] == "test.servicer" and ours[0]["request_id"] == "req-42"
    finished = [r for r in ours if r["message"] == "rpc finished"]
    assert [(r["level"], r["grpc_code"]) for r in finished] == [
        ("DEBUG", "OK"),
        ("WARNING", "UNAVAILABLE"),
    ]
    assert "request_id" not in finished[1]  # an id with spaces is not copied into logs
    assert not any("ana" in json.dumps(r) for r in records)  # no owner id by default
