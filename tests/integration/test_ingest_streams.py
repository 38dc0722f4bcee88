"""The acknowledged stream (PublishEventStream) through real processes (issues 20, 22.6, 22.12).

- The ingest service is SIGKILLed in the middle of a stream: the client knows
  exactly which messages were acknowledged; after a restart a full retry is
  answered DUPLICATE for exactly those and ACCEPTED for the rest; the scoring
  service counts every event once.
- Idle streams at the total bound leave PublishEvents and health answering
  within 1 s, are closed after the idle timeout with a clear status, and give
  their threads and slots back.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.harness import ServiceProcess, wait_until
from tests.integration.scoring_helpers import T0, contacts_of, interaction
from tests.integration.test_ingest import ACCEPTED, event
from vinculo.v1 import ingest_pb2, ingest_pb2_grpc, scoring_pb2_grpc
from vinculo_apps.acked_stream import StreamBroken, StreamTally, publish_stream
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

N = 4000  # events: 40 messages of 100 (the 40,000 and 16,000, scaled by 0.1)
PER_MESSAGE = 100
KILL_AFTER = 16  # messages answered when the ingest service is killed
OWNERS, CONTACTS = 4, 5


def scored_counts(stub: scoring_pb2_grpc.ScoringServiceStub) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    for o in range(OWNERS):
        for contact, relationship in contacts_of(stub, f"o{o}").items():
            kinds = {c.kind: c.outbound for c in relationship.signals.counts}
            counts[(f"o{o}", contact)] = kinds.get("message", 0)
    return counts


def test_ingest_killed_mid_stream_then_full_retry_is_exact(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    ingest = ServiceProcess("ingest_service", tmp_path / "ingest", broker.bootstrap)
    scoring = ServiceProcess("scoring_service", tmp_path / "scoring", broker.bootstrap)
    events = [
        interaction(f"e-{i}", f"o{i % OWNERS}", f"c{i % CONTACTS}", T0 + i, owner_only=True)
        for i in range(N)
    ]
    expected = Counter((e.owner_id, e.contact_id) for e in events)

    def kill_midway(tally: StreamTally) -> None:
        if tally.messages == KILL_AFTER:
            ingest.kill()  # SIGKILL: no flush, no goodbye

    try:
        ingest.start()
        with (
            grpc.insecure_channel(ingest.address) as channel,
            pytest.raises(StreamBroken) as broken,
        ):
            publish_stream(
                channel, events, batch_size=PER_MESSAGE, window=1, resumes=0,
                on_answer=kill_midway, timeout_s=120,
            )  # fmt: skip
        acked = broken.value.tally
        assert broken.value.code == grpc.StatusCode.UNAVAILABLE
        assert (acked.messages, acked.accepted) == (KILL_AFTER, KILL_AFTER * PER_MESSAGE)
        assert f"after {KILL_AFTER} of {N // PER_MESSAGE} messages" in str(broken.value)

        ingest.start()  # the same data directory: the outbox is read back
        with grpc.insecure_channel(ingest.address) as channel:
            retry = publish_stream(channel, events, batch_size=PER_MESSAGE, timeout_s=120)
        assert retry.duplicates == acked.accepted  # 1,600
        assert retry.accepted == N - acked.accepted  # 2,400
        assert retry.rejected == 0
        seeded = f"duplicate detection seeded from the outbox: {acked.accepted} events"
        assert seeded in ingest.log_text()

        scoring.start()
        with grpc.insecure_channel(scoring.address) as channel:
            stub = scoring_pb2_grpc.ScoringServiceStub(channel)  # type: ignore[no-untyped-call]
            wait_until(
                lambda: sum(scored_counts(stub).values()) >= N, timeout_s=120, what="all scored"
            )
            assert scored_counts(stub) == expected  # none lost, none twice
    finally:
        scoring.stop()
        ingest.stop()


def test_acked_stream_client_resumes_after_an_ingest_restart(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    ingest = ServiceProcess("ingest_service", tmp_path / "ingest", broker.bootstrap)
    events = [event(f"r-{i}", owner=f"o{i % OWNERS}") for i in range(3000)]

    def crash_and_restart(tally: StreamTally) -> None:
        if tally.messages == 10 and tally.resumes == 0:
            ingest.kill()
            ingest.start()

    try:
        ingest.start()
        with grpc.insecure_channel(ingest.address) as channel:
            tally = publish_stream(
                channel, events, batch_size=PER_MESSAGE, window=4,
                on_answer=crash_and_restart, timeout_s=120,
            )  # fmt: skip
        assert tally.resumes == 1
        assert tally.messages == len(events) // PER_MESSAGE
        # Up to window - 1 messages may have been kept with their answers lost: resent,
        # they are DUPLICATE (only an acknowledged event is); none is accepted twice.
        assert tally.accepted + tally.duplicates == len(events)
        assert tally.duplicates <= 3 * PER_MESSAGE
        assert tally.rejected == 0
    finally:
        ingest.stop()


MAX_STREAMS = 8
IDLE_TIMEOUT_S = 3


def one_then_idle(
    release: threading.Event, event_id: str
) -> Iterator[ingest_pb2.PublishEventStreamRequest]:
    """A client stream that sends one event, then nothing until released."""
    yield ingest_pb2.PublishEventStreamRequest(events=[event(event_id)], sequence=0)
    release.wait(timeout=60)


def open_idle_streams(
    stub: ingest_pb2_grpc.IngestServiceStub, release: threading.Event, prefix: str
) -> list[Iterator[ingest_pb2.PublishEventStreamResponse]]:
    """MAX_STREAMS streams, each admitted and answered once, then idle."""
    streams = [
        stub.PublishEventStream(one_then_idle(release, f"{prefix}{i}"), timeout=60)
        for i in range(MAX_STREAMS)
    ]
    for stream in streams:
        assert [r.status for r in next(stream).results] == [ACCEPTED]
    return streams


def assert_answering(
    stub: ingest_pb2_grpc.IngestServiceStub, channel: grpc.Channel, prefix: str
) -> None:
    """PublishEvents and health each answer within 1 s."""
    for i in range(3):
        started = time.monotonic()
        reply = stub.PublishEvents(
            ingest_pb2.PublishEventsRequest(events=[event(f"{prefix}{i}")]), timeout=5
        )
        assert time.monotonic() - started < 1.0
        started = time.monotonic()
        health = health_pb2_grpc.HealthStub(channel).Check(  # type: ignore[no-untyped-call]
            health_pb2.HealthCheckRequest(), timeout=5
        )
        assert time.monotonic() - started < 1.0
        assert [r.status for r in reply.results] == [ACCEPTED]
        assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_idle_streams_at_the_bound_leave_service_answering_and_are_closed(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    ingest = ServiceProcess(
        "ingest_service",
        tmp_path / "ingest",
        broker.bootstrap,
        extra_args=[
            *("--max-streams", str(MAX_STREAMS), "--max-streams-per-caller", str(MAX_STREAMS)),
            *("--stream-idle-timeout-s", str(IDLE_TIMEOUT_S)),
        ],
    )
    release = threading.Event()
    try:
        ingest.start()
        with grpc.insecure_channel(ingest.address) as channel:
            stub = ingest_pb2_grpc.IngestServiceStub(channel)  # type: ignore[no-untyped-call]
            streams = open_idle_streams(stub, release, "a")
            idle_since = time.monotonic()
            with pytest.raises(grpc.RpcError) as refused:
                next(stub.PublishEventStream(one_then_idle(release, "x"), timeout=10))
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert_answering(stub, channel, "p")  # at the bound of idle streams
            # After the timeout each idle stream is closed, saying why.
            for stream in streams:
                with pytest.raises(grpc.RpcError) as closed:
                    next(stream)
                assert closed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                assert f"no message for {IDLE_TIMEOUT_S} s" in closed.value.details()
                assert "VINCULO_INGEST_STREAM_IDLE_TIMEOUT_S" in closed.value.details()
            assert IDLE_TIMEOUT_S <= time.monotonic() - idle_since < IDLE_TIMEOUT_S + 10
            # Their threads and slots came back: as many streams again are admitted
            # (8 old + 8 new would be every worker) and unary calls still answer.
            again = open_idle_streams(stub, release, "b")
            assert_answering(stub, channel, "q")
            release.set()
            for stream in again:
                assert list(stream) == []  # the client ended it: status OK
        # Counted under their own code (the handler records it just after the status went).
        wait_until(
            lambda: (
                ingest.metric(
                    "grpc_server_handled_total",
                    grpc_method="PublishEventStream",
                    grpc_code="DEADLINE_EXCEEDED",
                )
                == MAX_STREAMS
            ),
            timeout_s=10,
            what="idle closes counted",
        )
    finally:
        release.set()
        ingest.stop()
