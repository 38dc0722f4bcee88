"""The ingest service on grpc.aio: waiting calls and refused streams hold no thread.

On grpcio's synchronous server a unary call whose headers arrived held a pool
thread until its message completed, before any interceptor ran: about 1,000
such half-sent calls froze PublishEvents and health, and each idle stream held
a thread (docs/decisions/0012-ingest-streams.md). Measured here from outside,
on a real ingest process, with raw HTTP/2 frames and `/proc/PID/status`.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.harness import ServiceProcess, wait_until
from tests.integration.test_ingest import ACCEPTED, event, publish
from tests.integration.test_probe_regressions import _await_ping_ack, _frame
from vinculo.v1 import ingest_pb2, ingest_pb2_grpc

WORKERS = 16  # VINCULO_INGEST_WORKERS, the executor's bound
T = TypeVar("T")


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError(f"no Threads: line for {pid}")


def _headers(method: str) -> bytes:
    return b"".join(
        b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value  # HPACK literal
        for name, value in (
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", f"/vinculo.v1.IngestService/{method}".encode()),
            (b":authority", b"x"),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
        )
    )


def _open_calls(
    address: str, method: str, first: bytes, connections: int, per_connection: int
) -> list[socket.socket]:
    """Calls whose headers and `first` DATA bytes arrived, never ended by the client."""
    host, port = address.rsplit(":", 1)
    headers = _headers(method)
    opened: list[socket.socket] = []
    try:
        for _ in range(connections):
            sock = socket.create_connection((host, int(port)))
            opened.append(sock)
            data = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(4, 0, 0, b"")
            for stream in range(1, 2 * per_connection, 2):
                data += _frame(1, 4, stream, headers) + _frame(0, 0, stream, first)
            sock.sendall(data + _frame(6, 0, 0, b"probe-01"))  # PING, answered after the rest
            _await_ping_ack(sock)
    except BaseException:
        for sock in opened:
            sock.close()
        raise
    return opened


def _answers_quickly(ingest: ServiceProcess, event_id: str) -> float:
    """Seconds for a health check and a publish, both of which must succeed.

    While 2,000 calls are open, gRPC's core answers about 1 new call in 20 CANCELLED
    before any handler sees it (measured the same with the synchronous server given
    2,100 threads; the server's handled counts show none of them), so a CANCELLED is
    tried again, at most twice; any other failure fails at once.
    """
    started = time.monotonic()
    with grpc.insecure_channel(ingest.address) as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        health = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service="readiness")
        answer = _retry_cancelled(lambda: health.Check(request, timeout=10))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        assert _retry_cancelled(lambda: publish(ingest, [event(event_id)]))[0].status == ACCEPTED
    return time.monotonic() - started


def _retry_cancelled(call: Callable[[], T]) -> T:
    for _ in range(2):
        try:
            return call()
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:  # type: ignore[attr-defined]
                raise
    return call()


def test_two_thousand_half_sent_calls_hold_no_thread(ingest: ServiceProcess) -> None:
    assert ingest.process is not None
    _answers_quickly(ingest, "warm-1")
    before = _threads(ingest.process.pid)
    # 5 bytes of a message announced as 100 bytes long: the message never completes.
    sockets = _open_calls(ingest.address, "PublishEvents", b"\x00\x00\x00\x00\x64", 100, 20)
    try:
        during = _threads(ingest.process.pid)
        # The synchronous server held one thread per such call (2,000 here).
        assert during <= before + 2, (before, during)
        assert _answers_quickly(ingest, "slow-1") < 5.0
    finally:
        for sock in sockets:
            sock.close()


def test_two_hundred_idle_streams_hold_at_most_the_admitted_ones(ingest: ServiceProcess) -> None:
    assert ingest.process is not None
    _answers_quickly(ingest, "warm-1")
    before = _threads(ingest.process.pid)
    message = ingest_pb2.StreamEventsRequest(events=[event("idle-1")]).SerializeToString()
    first = b"\x00" + len(message).to_bytes(4, "big") + message  # one whole message, no end
    sockets = _open_calls(ingest.address, "StreamEvents", first, 10, 20)
    try:
        during = _threads(ingest.process.pid)
        # 4 streams are admitted from one address (VINCULO_INGEST_MAX_STREAMS_PER_CALLER),
        # each publishing its message in a worker, then waiting on the event loop
        # (test_ingest_aio_streams.py); the 196 refused ones hold nothing. The executor
        # may have grown to its bound of workers meanwhile, never past it.
        assert during <= before + WORKERS, (before, during)
        assert _answers_quickly(ingest, "idle-2") < 5.0
    finally:
        for sock in sockets:
            sock.close()


def test_sigterm_lets_an_open_stream_finish_then_exits(ingest: ServiceProcess) -> None:
    process = ingest.process
    assert process is not None
    release = threading.Event()

    def requests() -> Iterator[ingest_pb2.StreamEventsRequest]:
        yield ingest_pb2.StreamEventsRequest(events=[event("drain-1")])
        release.wait(30)
        yield ingest_pb2.StreamEventsRequest(events=[event("drain-2")])

    with grpc.insecure_channel(ingest.address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        summary = stub.StreamEvents.future(requests(), timeout=60)
        try:
            wait_until(
                lambda: ingest.metric("vinculo_ingest_events_received_total") == 1,
                timeout_s=30,
                what="the stream's first message",
            )
            process.send_signal(signal.SIGTERM)
            wait_until(lambda: "stopping: draining" in ingest.log_text(), 30, "the drain")
        finally:
            release.set()
        assert summary.result(timeout=30).accepted == 2
    assert process.wait(timeout=30) == 0
