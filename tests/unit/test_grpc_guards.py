"""Every ServiceServer (the scoring service's too) answers undecodable requests INVALID_ARGUMENT."""

from __future__ import annotations

import grpc
import pytest
from prometheus_client import CollectorRegistry

from tests.unit.test_grpc_server import _count, served  # noqa: F401
from vinculo.v1 import scoring_pb2


@pytest.mark.parametrize("payload", [b"\x0a\x02\xff\xfe", b"\xff\xff\xff"])
def test_an_undecodable_request_is_invalid_argument_and_counted(
    served: tuple[grpc.Channel, CollectorRegistry],  # noqa: F811
    payload: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel, registry = served
    call = channel.unary_unary(
        "/vinculo.v1.ScoringService/GetNetworkSummary",
        request_serializer=lambda raw: raw,
        response_deserializer=scoring_pb2.GetNetworkSummaryResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as failure:
        call(payload, timeout=10)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.value.details().startswith("request: ")
    assert "GetNetworkSummaryRequest" in failure.value.details()
    assert _count(registry, "INVALID_ARGUMENT") == 1
    assert _count(registry, "INTERNAL") == 0
    lines = [r for r in caplog.records if "undecodable request" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None
