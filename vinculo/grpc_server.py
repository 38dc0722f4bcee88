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
from prometheus_client import CollectorRegistry

from vinculo.grpc_guards import DecodeGuardInterceptor
from vinculo.grpc_metrics import GrpcMetrics, MetricsInterceptor
from vinculo.logs import RequestLogInterceptor
from vinculo.metrics_http import start_metrics_server
from vinculo.reflection import V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME, enable_reflection
from vinculo.security.settings import ServerSecurity

# Health service names an orchestrator's probes ask for (Kubernetes grpc probes' `service`).
LIVENESS = "liveness"
READINESS = "readiness"


def _status(serving: bool) -> Any:
    if serving:
        return health_pb2.HealthCheckResponse.SERVING
    return health_pb2.HealthCheckResponse.NOT_SERVING


class ServiceServer:
    """A gRPC server with health, reflection and request metrics.

    Add servicers with `add`, then `start`. Health answers per service name:
    `liveness` is SERVING while the process works; "", `readiness` and each
    service's name are SERVING while it can answer with current data
    (`set_ready`); `set_serving(False)` turns both off (draining on shutdown).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        max_workers: int = 16,
        security: ServerSecurity | None = None,
        interceptors: Sequence[grpc.ServerInterceptor] = (),
        ready_at_start: bool = True,
        routing: Sequence[grpc.ServerInterceptor] = (),
    ) -> None:
        """routing: interceptors that may answer a call elsewhere (the scoring service's
        forwarding), right after the request metrics and log: before the decode guard,
        the call deadline and auth, which the instance that answers runs."""
        self.health = health.HealthServicer()
        self._ready_at_start = ready_at_start
        self._service_names: list[str] = [
            V1_SERVICE_NAME,
            V1ALPHA_SERVICE_NAME,
            health.SERVICE_NAME,
        ]
        self._bound: int | None = None
        self.metrics = GrpcMetrics(registry)
        self._security = security or ServerSecurity()
        self._server = self._new_server(
            max_workers,
            # Metrics first: they see every call, also one a later interceptor answers
            # (the decode guard's INVALID_ARGUMENT, auth refusing it, a limit). Then the
            # decode guard, then auth: later ones know the request is whole and the caller known.
            [
                MetricsInterceptor(self.metrics),
                RequestLogInterceptor(),
                *routing,
                DecodeGuardInterceptor(),
                *self._security.interceptors,
                *interceptors,
            ],
            # A port in use must fail loudly.
            [("grpc.so_reuseport", 0), *self._security.options],
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        self.metrics.initialize(health.SERVICE_NAME)

    def _new_server(
        self,
        max_workers: int,
        interceptors: Sequence[grpc.ServerInterceptor],
        options: Sequence[tuple[str, Any]],
    ) -> Any:
        """grpcio's synchronous server (vinculo.grpc_aio_server overrides it with grpc.aio)."""
        return grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
            interceptors=interceptors,
            options=options,
        )

    def add(self, register: Callable[[Any, grpc.Server], None], servicer: Any, name: str) -> None:
        """register: a generated add_XServicer_to_server; name: the full service name."""
        register(servicer, self._server)
        self._service_names.append(name)
        self.metrics.initialize(name)

    def bind(self, host: str, port: int) -> int:
        """Reserve the port before `start` (to advertise it); returns it (useful with 0)."""
        credentials = self._security.credentials
        if credentials is None:
            bound = self._server.add_insecure_port(f"{host}:{port}")
        else:
            bound = self._server.add_secure_port(f"{host}:{port}", credentials)
        if bound == 0:
            raise OSError(f"cannot listen for gRPC on {host}:{port}")
        self._bound = int(bound)
        return self._bound

    def start(self, host: str, port: int) -> int:
        """Bind (unless `bind` did) and start; returns the bound port (useful with port 0).

        Live at once; ready at once unless constructed with `ready_at_start=False`.
        """
        bound = self._bound if self._bound is not None else self.bind(host, port)
        enable_reflection(self._service_names, self._server)
        self._server.start()
        self.health.set(LIVENESS, _status(True))
        self.set_ready(self._ready_at_start)
        return int(bound)

    def set_ready(self, ready: bool) -> None:
        """Readiness: the overall status "", `readiness` and every service's own name."""
        for name in ["", READINESS, *self._service_names]:
            self.health.set(name, _status(ready))

    def set_serving(self, serving: bool) -> None:
        """Liveness and readiness together (NOT_SERVING everywhere while stopping)."""
        self.health.set(LIVENESS, _status(serving))
        self.set_ready(serving)

    def stop(self, grace_s: float = 5.0) -> None:
        self.set_serving(False)
        self._server.stop(grace_s).wait()

    def wait(self) -> None:
        self._server.wait_for_termination()


def start_metrics_http(
    port: int, registry: CollectorRegistry, host: str = "127.0.0.1"
) -> tuple[Any, threading.Thread]:
    """Serve /metrics for `registry`; returns (server, thread): call server.shutdown()."""
    return start_metrics_server(port, registry, host)
