"""Admitted client streams waiting for their next message hold no thread (issue 22.6).

StreamEvents and PublishEventStream are served natively async
(vinculo.grpc_aio_streams): a stream waits on the event loop and takes a worker
only to publish a message. Measured on a real ingest process with
`/proc/PID/status`: before, each admitted idle stream held one worker thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.harness import ServiceProcess, read_topic, wait_until
from tests.integration.scoring_helpers import T0, interaction
from tests.integration.test_ingest import ACCEPTED, event
from tests.integration.test_ingest_aio import _threads
from tests.security_files import SecureServiceProcess, make_security_files
from vinculo.security.channel import open_channel
from vinculo.topics import INTERACTIONS_TOPIC
from vinculo.v1 import ingest_pb2, ingest_pb2_grpc
from vinculo_apps.devstack.broker import EmbeddedBroker

ADMITTED = 8  # VINCULO_INGEST_MAX_STREAMS here (the default is 8 too)
REFUSED = 8


def _idle_until(
    release: threading.Event, event_id: str
) -> Iterator[ingest_pb2.StreamEventsRequest]:
    """A client stream that sends nothing until released, then one event."""
    release.wait(timeout=120)
    yield ingest_pb2.StreamEventsRequest(events=[event(event_id)])


def _one_then_idle(
    release: threading.Event, event_id: str
) -> Iterator[ingest_pb2.StreamEventsRequest]:
    """A client stream that sends one event, then nothing until released."""
    yield ingest_pb2.StreamEventsRequest(events=[event(event_id)])
    release.wait(timeout=120)


def _answers_fast(
    stub: ingest_pb2_grpc.IngestServiceStub, channel: grpc.Channel, event_id: str
) -> float:
    """Seconds for a PublishEvents and a health check, both of which must succeed."""
    started = time.monotonic()
    reply = stub.PublishEvents(ingest_pb2.PublishEventsRequest(events=[event(event_id)]), timeout=5)
    health = health_pb2_grpc.HealthStub(channel).Check(  # type: ignore[no-untyped-call]
        health_pb2.HealthCheckRequest(service="readiness"), timeout=5
    )
    assert [r.status for r in reply.results] == [ACCEPTED]
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    return time.monotonic() - started


def test_admitted_idle_streams_hold_no_thread(broker: EmbeddedBroker, tmp_path: Path) -> None:
    ingest = ServiceProcess(
        "ingest_service",
        tmp_path / "ingest",
        broker.bootstrap,
        extra_args=[
            *("--max-streams", str(ADMITTED), "--max-streams-per-caller", str(ADMITTED)),
            *("--stream-idle-timeout-s", "120"),
        ],
    )
    release = threading.Event()
    try:
        ingest.start()
        assert ingest.process is not None
        with grpc.insecure_channel(ingest.address) as channel:
            stub = ingest_pb2_grpc.IngestServiceStub(channel)  # type: ignore[no-untyped-call]
            _answers_fast(stub, channel, "warm")  # warm: the connection and a worker exist
            before = _threads(ingest.process.pid)
            streams = [
                stub.StreamEvents.future(_idle_until(release, f"s{i}"), timeout=120)
                for i in range(ADMITTED + REFUSED)
            ]
            try:
                # The ones over the bound are refused at once: the others are admitted.
                wait_until(
                    lambda: sum(s.done() for s in streams) >= REFUSED,
                    timeout_s=60,
                    what="the streams over the bound to be refused",
                )
                refused = [s for s in streams if s.done()]
                assert [s.code() for s in refused] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * REFUSED
                during = _threads(ingest.process.pid)
                # Served synchronously, each admitted stream held a worker: before + 8.
                assert during <= before + 1, (before, during)
                assert _answers_fast(stub, channel, "during") < 1.0
            finally:
                release.set()
            admitted = [s for s in streams if s not in refused]
            summaries = [s.result(timeout=60) for s in admitted]
        # Each admitted stream still publishes when its client sends, and ends normally,
        # counted as the synchronous path counted it.
        assert [s.accepted for s in summaries] == [1] * ADMITTED
        handled = ingest.metric(
            "grpc_server_handled_total", grpc_method="StreamEvents", grpc_code="OK"
        )
        assert handled == ADMITTED
        received = ingest.metric("grpc_server_msg_received_total", grpc_method="StreamEvents")
        assert received == ADMITTED
    finally:
        ingest.stop()


def _stream_code(call: Any, requests: list[Any], answers: bool = False) -> grpc.RpcError:
    """The error a client stream of `requests` ends with (`answers`: one per message)."""
    with pytest.raises(grpc.RpcError) as raised:
        reply = call(iter(requests), timeout=20)
        if answers:
            list(reply)
    return raised.value


def test_auth_authorization_and_rate_apply_to_async_streams(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """Over TLS with tokens and a rate limit: the policies of the sync path, per message."""
    files = make_security_files(tmp_path / "pki")
    ingest = SecureServiceProcess(
        "ingest_service",
        tmp_path / "ingest",
        broker.bootstrap,
        extra_args=[
            *files.server_flags(mutual=False),
            *("--rate-events-per-s", "5", "--max-batch", "5", "--raw-bridge", "false"),
        ],
        security=files.client(),
    )
    ana = [interaction(f"a{i}", "ana", "bea", T0) for i in range(4)]
    try:
        ingest.start()
        with open_channel(ingest.address, files.client()) as channel:
            stub = ingest_pb2_grpc.IngestServiceStub(channel)  # type: ignore[no-untyped-call]
            anonymous = _stream_code(
                stub.StreamEvents, [ingest_pb2.StreamEventsRequest(events=ana[:1])]
            )
            assert anonymous.code() == grpc.StatusCode.UNAUTHENTICATED
        with open_channel(ingest.address, files.client("importer-ana")) as channel:
            stub = ingest_pb2_grpc.IngestServiceStub(channel)  # type: ignore[no-untyped-call]
            ben = [interaction("x1", "ben", "zoe", T0)]
            denied = _stream_code(
                stub.StreamEvents,
                [ingest_pb2.StreamEventsRequest(events=e) for e in (ana[:1], ben, ana[1:2])],
            )
            assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
            # Within the rate (5 events/s, bucket of 5): 3 more pass, the next 5 do not.
            answers = stub.PublishEventStream(
                iter(
                    ingest_pb2.PublishEventStreamRequest(events=events, sequence=n)
                    for n, events in enumerate((ana[2:4], [interaction("a9", "ana", "bea", T0)]))
                ),
                timeout=20,
            )
            assert [r.sequence for r in answers] == [0, 1]
            six = [interaction(f"r{i}", "ana", "bea", T0) for i in range(6)]  # > the bucket
            over = _stream_code(
                stub.PublishEventStream,
                [ingest_pb2.PublishEventStreamRequest(events=six, sequence=0)],
                answers=True,
            )
            assert over.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "VINCULO_INGEST_RATE_EVENTS_PER_S" in (over.details() or "")
            assert "retry-after" in dict(over.trailing_metadata() or ())
        # Counted per method and code as the sync path counts them.
        for method, code in (
            ("StreamEvents", "UNAUTHENTICATED"),
            ("StreamEvents", "PERMISSION_DENIED"),
            ("PublishEventStream", "OK"),
            ("PublishEventStream", "RESOURCE_EXHAUSTED"),
        ):
            assert ingest.metric("grpc_server_handled_total", grpc_method=method, grpc_code=code)
    finally:
        ingest.stop()
    # Only ana's events reached the topic, each with its copy for bea: a0, a2, a3, a9.
    records = read_topic(broker.bootstrap, INTERACTIONS_TOPIC, expected=9, timeout_s=5)
    assert sorted(r.key for r in records) == [b"ana"] * 4 + [b"bea"] * 4
    assert not [r for r in records if b"ben" in r.value]


def test_cancelled_async_streams_give_their_slots_back(ingest: ServiceProcess) -> None:
    """A client that cancels its admitted streams frees their slots (default: 4 per caller)."""
    release = threading.Event()
    with grpc.insecure_channel(ingest.address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)  # type: ignore[no-untyped-call]
        try:
            for round_ in range(2):
                streams = [
                    stub.StreamEvents.future(_one_then_idle(release, f"c{round_}{i}"), timeout=60)
                    for i in range(4)
                ]
                # All four admitted: their first messages are published, none refused.
                wait_until(
                    lambda r=round_: (
                        ingest.metric("vinculo_ingest_events_received_total")  # type: ignore[misc]
                        == 4 * (r + 1)
                    ),
                    timeout_s=30,
                    what="the four streams' first messages",
                )
                assert not any(s.done() for s in streams)
                for stream in streams:
                    stream.cancel()
                # Their ends are counted (CANCELLED, or OK when the end of the request
                # stream reached the handler before the cancellation did): slots released.
                wait_until(
                    lambda r=round_: (
                        ingest.metric(  # type: ignore[misc]
                            "grpc_server_handled_total", grpc_method="StreamEvents"
                        )
                        == 4 * (r + 1)
                    ),
                    timeout_s=30,
                    what="the cancelled streams to end",
                )
        finally:
            release.set()
        refused = ingest.metric(
            "grpc_server_handled_total", grpc_method="StreamEvents", grpc_code="RESOURCE_EXHAUSTED"
        )
        assert refused == 0
