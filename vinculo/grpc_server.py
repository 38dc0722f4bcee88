"""What both services' gRPC servers share: health, reflection, metrics.

`ServiceServer` wraps a grpc.Server with the standard health service (so
orchestrators and the test harness see SERVING/NOT_SERVING), server
reflection v1 and v1alpha (so grpcurl works without the .proto files) and
the grpc-ecosystem standard request metrics (vinculo.grpc_metrics).
`start_metrics_http` serves a registry's `/metrics` on its own port.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry, start_http_server

from vinculo.grpc_metrics import GrpcMetrics, MetricsInterceptor
from vinculo.reflection import V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME, enable_reflection


class ServiceServer:
    """A gRPC server with health, reflection and request metrics.

    Add servicers with `add`, then `start`; `set_serving(False)` flips the
    health status (e.g. while draining on shutdown).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        max_workers: int = 16,
        interceptors: Sequence[grpc.ServerInterceptor] = (),
    ) -> None:
        self.health = health.HealthServicer()
        self._service_names: list[str] = [
            V1_SERVICE_NAME,
            V1ALPHA_SERVICE_NAME,
            health.SERVICE_NAME,
        ]
        self._bound: int | None = None
        self.metrics = GrpcMetrics(registry)
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
            # Metrics first: they see every call, also one a later interceptor answers.
            interceptors=[MetricsInterceptor(self.metrics), *interceptors],
            options=[("grpc.so_reuseport", 0)],  # a port in use must fail loudly
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        self.metrics.initialize(health.SERVICE_NAME)

    def add(self, register: Callable[[Any, grpc.Server], None], servicer: Any, name: str) -> None:
        """register: a generated add_XServicer_to_server; name: the full service name."""
        register(servicer, self._server)
        self._service_names.append(name)
        self.metrics.initialize(name)

    def bind(self, host: str, port: int) -> int:
        """Reserve the port before `start` (to advertise it); returns it (useful with 0)."""
        bound = self._server.add_insecure_port(f"{host}:{port}")
        if bound == 0:
            raise OSError(f"cannot listen for gRPC on {host}:{port}")
        self._bound = int(bound)
        return self._bound

    def start(self, host: str, port: int) -> int:
        """Bind (unless `bind` did) and start; returns the bound port (useful with port 0)."""
        bound = self._bound if self._bound is not None else self.bind(host, port)
        enable_reflection(self._service_names, self._server)
        self._server.start()
        self.set_serving(True)
        return int(bound)

    def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self._service_names]:
            self.health.set(name, status)

    def stop(self, grace_s: float = 5.0) -> None:
        self.set_serving(False)
        self._server.stop(grace_s).wait()

    def wait(self) -> None:
        self._server.wait_for_termination()


def start_metrics_http(
    port: int, registry: CollectorRegistry, host: str = "127.0.0.1"
) -> tuple[Any, threading.Thread]:
    """Serve /metrics for `registry`; returns (server, thread): call server.shutdown()."""
    server, thread = start_http_server(port, addr=host, registry=registry)
    return server, thread
