"""`vinculo scoring` / `python -m scoring_service`: wire settings, store, model, consumer, gRPC.

Start order: the store (fails fast on a state schema mismatch), the consumer
thread (it retries until the broker answers, and joins the group while the
model loads), the model, gRPC and /metrics. SIGTERM or SIGINT stops consuming,
commits state and offsets, leaves the group, then stops gRPC and /metrics.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from prometheus_client import CollectorRegistry
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from scoring_service.consumer import ScoringConsumer
from scoring_service.erasure.eraser import Eraser
from scoring_service.erasure.servicer import SERVICE_NAME as ERASURE_SERVICE
from scoring_service.erasure.wiring import start_erasure, start_follower
from scoring_service.integrity import DamagedStore
from scoring_service.lag_monitor import LagMonitor
from scoring_service.metrics import ScoringMetrics
from scoring_service.ops_metrics import OpsMetrics
from scoring_service.read_networks import UNSLOTTED_ROWS
from scoring_service.readiness import Readiness
from scoring_service.rebuild_guard import check_rebuild
from scoring_service.request_ids import RequestIdsInterceptor
from scoring_service.routing.directory import PartitionDirectory, default_advertised_address
from scoring_service.routing.forwarding import ForwardingInterceptor
from scoring_service.scored_network import network_cache
from scoring_service.scorer import IncompatibleModel, load_scorer
from scoring_service.servicer import ScoringServicer
from scoring_service.settings import ScoringSettings
from scoring_service.store import StateSchemaMismatch, StateStore
from scoring_service.suggestions import Cadences, make_suggester
from scoring_service.watch import WatchHub
from vinculo import lifeline, logs
from vinculo import settings as settings_lib
from vinculo.grpc_server import ServiceServer, start_metrics_http
from vinculo.heap import skip_the_last_collection
from vinculo.ready import remove_ready_file, write_ready_file
from vinculo.security.kafka_check import KafkaCredentialsRejected, check_kafka_credentials
from vinculo.security.settings import build_server_security
from vinculo.security.tls import client_credentials
from vinculo.topics import INTERACTIONS_TOPIC
from vinculo.v1 import scoring_pb2, scoring_pb2_grpc
from vinculo.v1.erasure_pb2_grpc import add_ErasureServiceServicer_to_server

log = logging.getLogger("scoring_service")

SERVICE_NAME = scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name
CONSUMER_CHECK_S = 0.5
# glibc's mallopt: buffers from this size up are mapped for themselves and unmapped when freed.
M_MMAP_THRESHOLD = -3
LARGE_BUFFER_BYTES = 4 * 2**20
# ... and free memory above this much at the top of an arena goes back to the OS.
M_TRIM_THRESHOLD = -1
KEPT_FREE_BYTES = 8 * 2**20
# At start, a broker refusing our TLS/SASL credentials stops the service within this bound.
KAFKA_CREDENTIALS_CHECK_S = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    settings_lib.add_flags(parser, ScoringSettings)


def cadences_of(settings: ScoringSettings) -> Cadences:
    return Cadences(
        close_days=settings.cadence_close_days,
        relationship_days=settings.cadence_relationship_days,
        acquaintance_days=settings.cadence_acquaintance_days,
    )


def _install_signal_handlers(stop: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def serve(settings: ScoringSettings, stop: threading.Event) -> int:
    registry = CollectorRegistry()
    metrics = ScoringMetrics(registry)
    hub = WatchHub(max_watchers=settings.max_watch_streams)
    metrics.watch_streams.set_function(lambda: hub.open_streams)
    check_kafka_credentials(
        settings.kafka_bootstrap, settings.kafka_security(), KAFKA_CREDENTIALS_CHECK_S
    )
    with contextlib.ExitStack() as cleanup:  # whatever fails, what started is stopped
        if settings.rebuild_state:
            check_rebuild(
                settings.database_path,
                settings.kafka_bootstrap,
                settings.rebuild_wait_s,
                settings.kafka_security(),
            )
        store = StateStore(
            settings.database_path,
            INTERACTIONS_TOPIC,
            rebuild=settings.rebuild_state,
            cache_mb=settings.store_cache_mb,
            wal_limit_mb=settings.wal_limit_mb,
        )
        cleanup.callback(store.close)
        metrics.relationships.set(store.count_relationships())
        server, directory, forwarding = _bind_grpc(settings, registry)
        cleanup.callback(forwarding.close)
        eraser = Eraser(store)
        follower = start_follower(settings.kafka_bootstrap, eraser, settings.kafka_security())
        cleanup.callback(follower.stop)
        consumer = ScoringConsumer(settings, store, metrics, hub, directory, eraser)
        consumer.start()  # joining the group (~3 s) overlaps loading the model (~2 s)
        cleanup.callback(consumer.stop)
        monitor = LagMonitor(
            settings.kafka_bootstrap,
            INTERACTIONS_TOPIC,
            settings.partitions,
            store,
            metrics,
            assigned=lambda: consumer.assigned,
            security=settings.kafka_security(),
        )
        monitor.start()
        cleanup.callback(monitor.stop)
        log.info("consuming %s from %s", INTERACTIONS_TOPIC, settings.kafka_bootstrap)
        _one_compute_thread()
        scorer = load_scorer(settings.model_path, settings.model_cache_path)
        threadpool_limits(limits=1)  # BLAS (process-wide) and this thread's OpenMP
        metrics.set_model(
            scorer.version, scorer.feature_schema_version, scorer.serving_horizon_days
        )
        cache = network_cache(
            settings.cache_owners,
            settings.cache_rows,
            settings.cache_ttl_s,
            settings.cache_stale_s,
        )
        servicer = ScoringServicer(
            store,
            scorer,
            hub,
            make_suggester(cadences_of(settings)),
            cache=cache,
            unslotted_rows=UNSLOTTED_ROWS,
        )
        erasure = start_erasure(
            settings.kafka_bootstrap, eraser, hub, cache, settings.kafka_security()
        )
        cleanup.callback(erasure.close)
        server.add(add_ErasureServiceServicer_to_server, erasure, ERASURE_SERVICE)
        grpc_port = _start_grpc(settings, server, servicer)
        cleanup.callback(server.stop)
        # Ready (health "", readiness, the service) while every partition held here has
        # caught up, the broker answers and the store can be written: reads still answer
        # from committed state otherwise, but it is not kept fresh. Live (health
        # `liveness`) from the start.
        ops = OpsMetrics(registry, settings.database_path)

        def ready() -> bool:
            return directory.is_ready() and monitor.broker_up.is_set() and consumer.store_writable

        def publish(now_ready: bool) -> None:
            server.set_ready(now_ready)
            ops.set_ready(now_ready)

        readiness = Readiness(ready, publish)
        directory.on_readiness(lambda _directory_ready: readiness.refresh())
        readiness.refresh()
        cleanup.callback(hub.close)
        http, _ = start_metrics_http(settings.metrics_port, registry, settings.metrics_host)
        cleanup.callback(http.shutdown)
        metrics_port = int(http.server_port)  # the bound one, also with port 0
        log.info("metrics on http://%s:%d/metrics", settings.metrics_host, metrics_port)
        if settings.ready_file:
            write_ready_file(Path(settings.ready_file), grpc_port, metrics_port)
            cleanup.callback(remove_ready_file, Path(settings.ready_file))
        while not stop.wait(CONSUMER_CHECK_S) and consumer.is_alive():
            readiness.refresh()  # the broker or the store came back, or went away
        # Stop consuming first: commit state and offsets, leave the group; then gRPC.
        server.set_serving(False)
        _stop_meanwhile(consumer.stop, follower.stop, monitor.stop)
    if consumer.error is not None:
        log.error("exiting: the consumer failed (%s)", consumer.error)
        return 1
    log.info("stopped cleanly")
    return 0


def _stop_meanwhile(first: Callable[[], None], *others: Callable[[], None]) -> None:
    """`first()` here while `others` run in threads of their own; returns when all have.

    The tombstone follower and the lag monitor each wait out their own poll (~0.5 s
    together, measured) and the consumer's last commit needs neither: they stop while
    the consumer commits and leaves its group, not after it."""
    threads = [threading.Thread(target=stop, name="stopping") for stop in others]
    for thread in threads:
        thread.start()
    try:
        first()
    finally:
        for thread in threads:
            thread.join()


def _one_compute_thread() -> None:
    """One OpenMP thread per call. With 16+ gRPC threads on a few cores, each call's
    own OpenMP team oversubscribes them (predictions measured 7x slower).

    `threadpool_limits` sets OpenMP's limit for the calling thread only (measured:
    a thread started later still gets the default), so the environment variable is
    set too, before scikit-learn loads the OpenMP runtime, for every thread.
    """
    os.environ["OMP_NUM_THREADS"] = "1"


def _return_large_buffers_to_the_os() -> None:
    """Scoring a 30k-relationship network allocates numpy buffers of 20-30 MB. glibc raises
    its mmap threshold to the largest block freed so far (up to 32 MiB) and then keeps such
    buffers in the arena of whichever gRPC thread served the read: the bench's serving step
    left the service at 1,138 MB of RSS, 312 MB with the threshold fixed (measured). Fixing
    it costs a page fault per 4 KiB of a large buffer. A fixed threshold also fixes the trim
    threshold at 128 KiB: the smaller buffers of each scoring were given back and faulted in
    again, read after read (1,900-14,000 minor faults and 6-34 ms of system CPU per uncached
    30k read, measured); up to `KEPT_FREE_BYTES` of them are kept per arena (reads score
    large networks on one thread, read_networks.py): 300 faults per read, and RSS after
    reads from the store at c8 ~245 -> ~290 MB (32 MiB kept: 120 faults, ~350 MB). Other
    C libraries: nothing to do."""
    libc = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(libc), "mallopt", None) if libc else None
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, LARGE_BUFFER_BYTES)
        mallopt(M_TRIM_THRESHOLD, KEPT_FREE_BYTES)


def _bind_grpc(
    settings: ScoringSettings, registry: CollectorRegistry
) -> tuple[ServiceServer, PartitionDirectory, ForwardingInterceptor]:
    """The gRPC port is bound before the consumer joins its group: the join advertises
    it to the other instances, which forward calls for this instance's owners."""
    directory = PartitionDirectory(settings.partitions, "")
    # Forwarded calls carry the caller's token; the holder checks it (not this instance).
    peers = client_credentials(settings.tls_peer_ca) if settings.tls_cert else None
    forwarding = ForwardingInterceptor(
        directory,
        settings.route_wait_s,
        registry,
        peers,
        settings.tls_peer_name,
        settings.grpc_max_call_s,
    )
    server = ServiceServer(
        registry,
        # A watch stream holds a thread for its lifetime: they come on top of the callers'.
        max_workers=settings.max_workers + settings.max_watch_streams,
        security=build_server_security(settings),
        # Ids in NFC (and impossible ones refused) before a call is answered here.
        interceptors=[RequestIdsInterceptor()],
        # Forwarded calls skip the decode guard, deadline, auth and id checks here: the
        # holder runs them on the same bytes and metadata (routing/forwarding.py).
        routing=[forwarding],
        ready_at_start=False,  # ready once the group is joined and caught up
    )
    port = server.bind(settings.grpc_host, settings.grpc_port)
    directory.own_address = settings.advertised_address or default_advertised_address(
        settings.grpc_host, port
    )
    log.info(
        "gRPC bound on %s:%d, advertised as %s", settings.grpc_host, port, directory.own_address
    )
    return server, directory, forwarding


def _start_grpc(settings: ScoringSettings, server: ServiceServer, servicer: ScoringServicer) -> int:
    server.add(scoring_pb2_grpc.add_ScoringServiceServicer_to_server, servicer, SERVICE_NAME)
    port = server.start(settings.grpc_host, settings.grpc_port)
    log.info("gRPC listening on %s:%d", settings.grpc_host, port)
    return port


def run(args: argparse.Namespace) -> int:
    settings = settings_lib.load(ScoringSettings, args)
    logs.configure(settings.log_json)
    logging.getLogger("kafka").setLevel(logging.WARNING)  # its INFO is one line per request
    _return_large_buffers_to_the_os()
    stop = threading.Event()
    _install_signal_handlers(stop)
    lifeline.watch(settings.lifeline_fd)  # stop when whoever started us is gone
    try:
        return serve(settings, stop)
    except (StateSchemaMismatch, DamagedStore, IncompatibleModel, KafkaCredentialsRejected) as exc:
        log.error("%s", exc)
        return 2
    finally:
        skip_the_last_collection()  # everything is closed: exit in ~0.1 s, not ~0.7


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scoring_service", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return settings_lib.run_checked("scoring_service", lambda: run(args))
