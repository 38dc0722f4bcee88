"""`vinculo ingest` / `python -m ingest_service`: run the ingest service.

Health is SERVING as soon as gRPC listens, even while the broker is down:
the service is up and answers every publish, with UNAVAILABLE per call until
the broker is back. Marking it NOT_SERVING would make orchestrators restart a
healthy process for a fault it cannot fix, and callers need the per-call
status anyway. A local fault is different: while the outbox cannot write (a
full or read-only disk) readiness is NOT_SERVING, liveness stays SERVING, until
a write or a probe succeeds (ingest_service.outbox_health).

The raw-topic bridge (ingest_service.raw_bridge, `VINCULO_RAW_BRIDGE`, on by
default) runs in a thread beside gRPC: it forwards CloudEvents written to
`vinculo.raw.v1` by other tools. Its failures are logged and counted
(`vinculo_ingest_raw_*`) and never stop the gRPC ingest; it is stopped after
gRPC and before the publisher closes.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from prometheus_client import CollectorRegistry

from ingest_service.dedupe import RecentEvents
from ingest_service.dedupe_seed import seed_recent
from ingest_service.durable import DurablePublisher
from ingest_service.metrics import IngestMetrics, RawBridgeMetrics
from ingest_service.outbox import Outbox
from ingest_service.outbox_eraser import OutboxEraser
from ingest_service.outbox_health import OutboxHealth
from ingest_service.publisher import BrokerUnavailable, KafkaPublisher, ensure_ingest_topics
from ingest_service.rate_limit import CallerRateInterceptor, TokenBuckets
from ingest_service.raw_bridge import RawBridge
from ingest_service.raw_sources import SourceGate, source_gate
from ingest_service.servicer import BatchProcessor, IngestServicer
from ingest_service.settings import IngestSettings
from ingest_service.stream_idle import IdleStreams
from ingest_service.stream_limits import StreamLimitInterceptor, StreamSlots, caller_of
from vinculo import lifeline, logs
from vinculo import settings as settings_mod
from vinculo.grpc_aio_server import AioServiceServer
from vinculo.grpc_server import start_metrics_http
from vinculo.heap import freeze_startup_heap, skip_the_last_collection
from vinculo.ready import remove_ready_file, write_ready_file
from vinculo.security.kafka_check import KafkaCredentialsRejected, check_kafka_credentials
from vinculo.security.settings import build_authenticator, build_server_security
from vinculo.settings import SettingsError
from vinculo.v1 import ingest_pb2_grpc

log = logging.getLogger("ingest_service")

SERVICE_NAME = "vinculo.v1.IngestService"
# How often the main thread looks for a stop signal (see `run`).
SIGNAL_CHECK_S = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    settings_mod.add_flags(parser, IngestSettings)


def run(args: argparse.Namespace) -> int:
    settings = settings_mod.load(IngestSettings, args)
    logs.configure(settings.log_json)
    # kafka-python logs every connection at INFO; our own lines say what matters.
    logging.getLogger("kafka").setLevel(logging.WARNING)
    try:
        lifeline.watch(settings.lifeline_fd)  # stop when whoever started us is gone
        return serve(settings)
    except (KafkaCredentialsRejected, SettingsError) as exc:
        log.error("%s", exc)
        return 2
    finally:
        skip_the_last_collection()  # everything is closed: exit in ~0.1 s, not ~0.5


def _connect_in_background(publisher: KafkaPublisher | DurablePublisher) -> None:
    """Reach the broker early so the first call is fast; a failure is only logged."""
    try:
        publisher.connect()
    except BrokerUnavailable as exc:
        log.warning("%s; publishing answers UNAVAILABLE until it is reachable", exc)
    # The producer and what it imported live as long as the process (vinculo.heap).
    freeze_startup_heap()


def _raw_bridge(
    settings: IngestSettings,
    registry: CollectorRegistry,
    outbox: Outbox | None,
    gate: SourceGate | None,
) -> RawBridge | None:
    if not settings.raw_bridge:
        log.info("raw bridge off (VINCULO_RAW_BRIDGE=false)")
        return None
    return RawBridge(
        settings.kafka_bootstrap,
        ack_timeout_s=settings.ack_timeout_s,
        metrics=RawBridgeMetrics(registry),
        # Topics vanish with an in-memory broker's restart; re-create them on each connection.
        prepare=lambda: ensure_ingest_topics(settings),
        keep=outbox.append if outbox is not None else None,
        security=settings.kafka_security(),
        gate=gate,
    )


def _rate_limit(settings: IngestSettings) -> list[CallerRateInterceptor]:
    if settings.rate_events_per_s <= 0:
        return []
    capacity = max(settings.rate_events_per_s, float(settings.max_batch))
    buckets = TokenBuckets(settings.rate_events_per_s, capacity)
    if not settings.auth_enabled:
        return [CallerRateInterceptor(buckets, lambda context: caller_of(context.peer()))]
    authenticator = build_authenticator(settings)
    # Auth (an earlier interceptor) has refused calls without a credential already.
    return [CallerRateInterceptor(buckets, lambda c: authenticator.identity(c) or "unknown")]


def serve(settings: IngestSettings, stop: threading.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or `stop` is set); flush, stop, return 0."""
    stop = stop or threading.Event()
    # A refused password or CA stops the start; a broker not up yet does not (see module doc).
    check_kafka_credentials(
        settings.kafka_bootstrap, settings.kafka_security(), max(5.0, settings.connect_timeout_s)
    )
    # Read before anything starts: a bad sources file stops the start (exit 2).
    gate = (
        source_gate(settings.auth_policy_file, settings.raw_sources_file)
        if settings.raw_bridge
        else None
    )
    registry = CollectorRegistry()
    metrics = IngestMetrics(registry)
    metrics.broker_up.set(0)
    kafka = KafkaPublisher(settings, on_broker_state=lambda up: metrics.broker_up.set(up))
    publisher: KafkaPublisher | DurablePublisher = kafka
    outbox = _outbox(settings)
    eraser: OutboxEraser | None = None
    health: OutboxHealth | None = None
    if outbox is not None:
        # Acknowledged means kept even if an in-memory broker dies (decision 11).
        health = OutboxHealth(outbox.directory, metrics.outbox_writable)
        publisher = DurablePublisher(kafka, outbox, settings, health)
        publisher.start()
        eraser = OutboxEraser(settings.kafka_bootstrap, outbox, settings.kafka_security())
        eraser.start()
    recent = RecentEvents(settings.dedupe_window)
    if outbox is not None:
        # A retry after a crash is told DUPLICATE for what was acknowledged before it.
        seed_recent(recent, outbox, settings.dedupe_window)
    processor = BatchProcessor(publisher, recent, metrics, settings.max_batch)
    slots = StreamSlots(settings.max_streams, settings.max_streams_per_caller)
    idle = IdleStreams(settings.stream_idle_timeout_s)
    server = AioServiceServer(
        registry,
        # grpc.aio: a call whose request is still arriving holds no thread (grpcio's
        # synchronous server held one each: 16, then ~1,000 half-sent calls stopped
        # every producer and health; docs/decisions/0012-ingest-streams.md).
        max_workers=settings.max_workers,
        interceptors=[StreamLimitInterceptor(slots, idle), *_rate_limit(settings)],
        security=build_server_security(settings),
    )
    server.add(
        ingest_pb2_grpc.add_IngestServiceServicer_to_server,
        IngestServicer(processor),
        SERVICE_NAME,
    )
    if health is not None:
        health.on_change(lambda writable: _follow_outbox(server, stop, writable))
    bridge = _raw_bridge(settings, registry, outbox, gate)
    http_server, _ = start_metrics_http(settings.metrics_port, registry, settings.metrics_host)
    try:
        port = server.start(settings.grpc_host, settings.grpc_port)
        metrics_port = int(http_server.server_port)  # the bound one, also with port 0
        log.info(
            "ingest listening: gRPC %s:%d, metrics http://%s:%d/metrics, Kafka %s",
            settings.grpc_host, port, settings.metrics_host, metrics_port,
            settings.kafka_bootstrap,
        )  # fmt: skip
        freeze_startup_heap()  # the server built: its objects stay (vinculo.heap)
        threading.Thread(target=_connect_in_background, args=(publisher,), daemon=True).start()
        if bridge is not None:
            bridge.start()
        idle.start()
        _stop_on_signals(stop)
        if settings.ready_file:
            write_ready_file(Path(settings.ready_file), port, metrics_port)
        # Timed: a signal the kernel hands to another thread (grpc's, kafka-python's)
        # only sets a flag that the main thread acts on when it wakes; an untimed wait
        # never woke, and such a SIGTERM was ignored until SIGKILL.
        while not stop.wait(SIGNAL_CHECK_S):
            pass
        log.info("stopping: draining calls, flushing the producer")
        server.stop(grace_s=settings.ack_timeout_s)
    finally:
        idle.stop()
        if settings.ready_file:
            remove_ready_file(Path(settings.ready_file))
        try:
            if bridge is not None:
                bridge.stop()
        finally:
            if eraser is not None:
                eraser.stop()
            publisher.close()
            http_server.shutdown()
    log.info("ingest stopped")
    return 0


def _follow_outbox(server: AioServiceServer, stop: threading.Event, writable: bool) -> None:
    """Readiness follows the outbox's writes (outbox_health.py), until stopping."""
    if not stop.is_set():
        server.set_ready(writable)


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)


def _outbox(settings: IngestSettings) -> Outbox | None:
    if not settings.outbox:
        return None
    return Outbox(
        settings.data_dir / "ingest",
        segment_bytes=settings.outbox_segment_mb * 1024 * 1024,
        retention_s=settings.outbox_retention_days * 86400,
    )
