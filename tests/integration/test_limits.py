"""Server-side limits through a real service process and a real client."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.harness import ServiceProcess, read_topic, wait_until
from tests.integration.scoring_helpers import T0, interaction
from vinculo.topics import INTERACTIONS_TOPIC
from vinculo.v1 import events_pb2 as pb
from vinculo.v1 import ingest_pb2, ingest_pb2_grpc
from vinculo_apps.devstack.broker import EmbeddedBroker

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


def _events(prefix: str, n: int) -> ingest_pb2.PublishEventsRequest:
    events = [interaction(f"{prefix}{i}", "ana", "bea", T0 + i, owner_only=True) for i in range(n)]
    return ingest_pb2.PublishEventsRequest(events=events)


def test_a_caller_over_its_rate_is_refused_with_retry_after_and_nothing_published(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    ingest = ServiceProcess(
        "ingest_service",
        tmp_path / "ingest",
        broker.bootstrap,
        ["--rate-events-per-s", "5", "--max-batch", "5", "--raw-bridge", "false"],
    )
    ingest.start()
    try:
        with grpc.insecure_channel(ingest.address) as channel:
            publish = ingest_pb2_grpc.IngestServiceStub(channel).PublishEvents
            publish(_events("a", 5), timeout=20)  # the whole bucket
            with pytest.raises(grpc.RpcError) as raised:
                publish(_events("refused", 5), timeout=20)
            assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "VINCULO_INGEST_RATE_EVENTS_PER_S" in (raised.value.details() or "")
            trailing = dict(raised.value.trailing_metadata() or ())
            retry_after = int(trailing["retry-after"])
            assert 1 <= retry_after <= 2
            wait_until(
                lambda: _accepted(publish, _events("b", 3)), timeout_s=10, what="refilled bucket"
            )
    finally:
        ingest.stop()
    records = read_topic(broker.bootstrap, INTERACTIONS_TOPIC, 8)
    ids = [pb.InteractionEvent.FromString(r.value).event_id for r in records]
    assert ids == [*(f"a{i}" for i in range(5)), *(f"b{i}" for i in range(3))]


def _accepted(publish: Any, request: ingest_pb2.PublishEventsRequest) -> bool:
    try:
        publish(request, timeout=20)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
            raise
        return False
    return True
