"""What both services' gRPC servers share: health, reflection, metrics.

`ServiceServer` wraps a grpc.Server with the standard health service (so
orchestrators and the test harness see SERVING/NOT_SERVING), server
reflection (so grpcurl works without the .proto files) and an interceptor
that counts requests by method and status code and times them.
`start_metrics_http` serves a registry's `/metrics` on its own port.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from vinculo.grpc_guards import DecodeGuardInterceptor
from vinculo.security.settings import ServerSecurity

# Latencies of interest run from sub-millisecond reads to multi-second bulk loads.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)


class GrpcMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "vinculo_grpc_requests_total",
            "gRPC requests handled, by method and status code.",
            ["service", "method", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "vinculo_grpc_request_duration_seconds",
            "Time to handle a gRPC request, until the last response message.",
            ["service", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, full_method: str, code: grpc.StatusCode, seconds: float) -> None:
        service, _, method = full_method.lstrip("/").partition("/")
        self.requests.labels(service, method, code.name).inc()
        self.latency.labels(service, method).observe(seconds)


def _final_code(context: grpc.ServicerContext, failed: bool) -> grpc.StatusCode:
    code = context.code()  # set by abort() or set_code(); None means the default
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK


class MetricsInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Counts and times every RPC, streaming ones until their last message."""

    def __init__(self, metrics: GrpcMetrics) -> None:
        self._metrics = metrics

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(handler.stream_unary, method),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(handler.stream_stream, method),
            handler.request_deserializer,
            handler.response_serializer,
        )

    def _wrap_unary(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            start = time.perf_counter()
            failed = True
            try:
                response = behavior(request, context)
                failed = False
                return response
            finally:
                elapsed = time.perf_counter() - start
                self._metrics.observe(method, _final_code(context, failed), elapsed)

        return wrapped

    def _wrap_stream(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            start = time.perf_counter()
            failed = True
            try:
                yield from behavior(request, context)
                failed = False
            finally:
                elapsed = time.perf_counter() - start
                self._metrics.observe(method, _final_code(context, failed), elapsed)

        return wrapped


class ServiceServer:
    """A gRPC server with health, reflection and request metrics.

    Add servicers with `add`, then `start`; `set_serving(False)` flips the
    health status (e.g. while draining on shutdown).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        max_workers: int = 16,
        security: ServerSecurity | None = None,
        interceptors: Sequence[grpc.ServerInterceptor] = (),
    ) -> None:
        self.health = health.HealthServicer()
        self._service_names: list[str] = [reflection.SERVICE_NAME, health.SERVICE_NAME]
        self._bound: int | None = None
        self._security = security or ServerSecurity()
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
            # Metrics first: they see every call, also one a later interceptor answers
            # (the decode guard's INVALID_ARGUMENT, auth refusing it, a limit). Then the
            # decode guard, then auth: later ones know the request is whole and the caller known.
            interceptors=[
                MetricsInterceptor(GrpcMetrics(registry)),
                DecodeGuardInterceptor(),
                *self._security.interceptors,
                *interceptors,
            ],
            # A port in use must fail loudly.
            options=[("grpc.so_reuseport", 0), *self._security.options],
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)

    def add(self, register: Callable[[Any, grpc.Server], None], servicer: Any, name: str) -> None:
        """register: a generated add_XServicer_to_server; name: the full service name."""
        register(servicer, self._server)
        self._service_names.append(name)

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
        """Bind (unless `bind` did) and start; returns the bound port (useful with port 0)."""
        bound = self._bound if self._bound is not None else self.bind(host, port)
        reflection.enable_server_reflection(self._service_names, self._server)
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
