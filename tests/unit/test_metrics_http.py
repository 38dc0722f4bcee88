"""The services' /metrics server: serves the registry, stops at once, frees its port."""

from __future__ import annotations

import socket
import time

from prometheus_client import CollectorRegistry, Counter

from vinculo.metrics_http import start_metrics_server
from vinculo_apps.scrape import scrape_metric


def test_serves_the_registry_then_stops_within_a_fraction_of_a_second() -> None:
    registry = CollectorRegistry()
    Counter("vinculo_test_events", "events", registry=registry).inc(3)
    server, thread = start_metrics_server(0, registry)
    port = int(server.server_port)
    url = f"http://127.0.0.1:{port}/metrics"
    assert scrape_metric(url, "vinculo_test_events_total") == 3
    started = time.monotonic()
    server.shutdown()
    assert time.monotonic() - started < 0.45  # polled every 50 ms (prometheus_client: 500)
    thread.join(timeout=1)
    assert not thread.is_alive()
    with socket.socket() as again:  # the port is free once shutdown() returned
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
