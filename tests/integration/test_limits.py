"""Server-side limits through a real service process and a real client."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.harness import ServiceProcess
from tests.integration.test_scoring_service import T0, interaction
from vinculo.v1 import ingest_pb2, ingest_pb2_grpc

pytestmark = pytest.mark.integration


@pytest.fixture
def silent_broker() -> Iterator[str]:
    """A port that accepts TCP connections and never answers: a hung broker."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as server:
        yield f"127.0.0.1:{server.getsockname()[1]}"


def test_a_call_running_past_the_server_limit_is_answered_deadline_exceeded(
    silent_broker: str, tmp_path: Path
) -> None:
    ingest = ServiceProcess(
        "ingest_service",
        tmp_path / "ingest",
        silent_broker,
        [
            *("--grpc-max-call-s", "1"),
            *("--connect-timeout-s", "6", "--ack-timeout-s", "6"),
            *("--outbox", "false", "--raw-bridge", "false"),
        ],
    )
    ingest.start()
    try:
        with grpc.insecure_channel(ingest.address) as channel:
            publish = ingest_pb2_grpc.IngestServiceStub(channel).PublishEvents
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as raised:
                publish(
                    ingest_pb2.PublishEventsRequest(events=[interaction("d1", "ana", "bea", T0)]),
                    timeout=20,
                )
            took = time.monotonic() - started
        assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "VINCULO_GRPC_MAX_CALL_S" in (raised.value.details() or "")
        assert 0.9 < took < 5  # the server's 1 s, not the client's 20 s nor the broker's 6 s
    finally:
        ingest.stop()
