"""Issue 22 point 11, through a running scoring service: an out-of-range `as_of`
or a forged page token answers INVALID_ARGUMENT naming the field (it was UNKNOWN)."""

from __future__ import annotations

import base64
import json
from typing import Any

import grpc
import pytest

from tests.harness import ServiceProcess
from vinculo.v1 import scoring_pb2 as pb
from vinculo.v1 import scoring_pb2_grpc


def forged(body: str) -> str:
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


GOOD = {"v": 1, "o": "ana", "a": 1.75e9, "w": False, "t": [], "s": 0.5, "c": "bo"}
FORGED_TOKENS = {
    "NaN as_of": forged(json.dumps({**GOOD, "a": float("nan")})),
    "Infinity score": forged(json.dumps({**GOOD, "s": float("inf")})),
    "-Infinity as_of": forged(json.dumps({**GOOD, "a": float("-inf")})),
    "deep nesting": forged("[" * 5000 + "]" * 5000),
    "nested field": forged(json.dumps({**GOOD, "o": {"x": [[[["ana"]]]]}})),
    "as_of out of range": forged(json.dumps({**GOOD, "a": 1e300})),
}
BAD_AS_OF = [(2**62, 0), (-(2**62), 0), (0, -1), (0, 2_000_000_000), (0, -(2**31))]


def test_forged_page_tokens_and_out_of_range_as_of_are_invalid_argument(
    scoring: ServiceProcess,
) -> None:
    with grpc.insecure_channel(scoring.address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)  # type: ignore[no-untyped-call]
        for name, token in FORGED_TOKENS.items():
            with pytest.raises(grpc.RpcError) as caught:
                stub.ListRelationships(
                    pb.ListRelationshipsRequest(owner_id="ana", page_token=token), timeout=10
                )
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, name
            assert caught.value.details().startswith("page_token"), name
        for seconds, nanos in BAD_AS_OF:
            calls: list[tuple[Any, Any]] = [
                (stub.ListRelationships, pb.ListRelationshipsRequest(owner_id="ana")),
                (stub.GetNetworkSummary, pb.GetNetworkSummaryRequest(owner_id="ana")),
                (stub.SuggestActions, pb.SuggestActionsRequest(owner_id="ana")),
                (
                    stub.GetRelationship,
                    pb.GetRelationshipRequest(owner_id="ana", contact_id="bo"),
                ),
            ]
            for call, request in calls:
                request.as_of.seconds, request.as_of.nanos = seconds, nanos
                with pytest.raises(grpc.RpcError) as caught:
                    call(request, timeout=10)
                assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
                assert caught.value.details().startswith("as_of: "), caught.value.details()
