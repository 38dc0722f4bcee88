"""`/metrics` over HTTP for one registry, stopped within a tenth of a second.

prometheus_client's `start_http_server` serves with `serve_forever()`'s default
poll interval of 0.5 s, and `shutdown()` waits for that loop to notice: every
service stop paid up to half a second for it (measured). This is the same WSGI
app and threading server, polled every `POLL_S`, and `shutdown()` also closes
the listening socket (the port is free again when it returns).
"""

from __future__ import annotations

import socket
import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

# How often the serving loop checks for shutdown (a select() timeout: no work while idle).
POLL_S = 0.05


class _QuietHandler(WSGIRequestHandler):
    """No line on stderr per scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        return


class MetricsServer(ThreadingWSGIServer):
    """The bound port is `server_port`; `shutdown()` stops serving and closes the socket."""

    def shutdown(self) -> None:
        super().shutdown()
        self.server_close()


def start_metrics_server(
    port: int, registry: CollectorRegistry, host: str = "127.0.0.1"
) -> tuple[MetricsServer, threading.Thread]:
    """Serve `registry` on http://host:port/metrics (port 0: any free one) in a daemon thread."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]

    class _Server(MetricsServer):
        address_family = family

    server = make_server(host, port, make_wsgi_app(registry), _Server, handler_class=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, args=(POLL_S,), name="metrics-http", daemon=True
    )
    thread.start()
    return server, thread
