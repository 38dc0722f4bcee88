"""gRPC server metrics under grpc-ecosystem's names (go-grpc-prometheus, py-grpc-prometheus).

Stock dashboards and alerts expect exactly these series, each with `grpc_type`
(unary, client_stream, server_stream, bidi_stream), `grpc_service` and
`grpc_method`; `grpc_server_handled_total` adds `grpc_code`. A call the client
cancelled counts as CANCELLED. `GrpcMetrics.initialize` creates every series of
a registered service at 0, so sums and rates answer before the first call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import grpc
from google.protobuf import descriptor_pool  # type: ignore[import-untyped]
from prometheus_client import CollectorRegistry, Counter, Histogram

from vinculo.grpc_aio_streams import AioBehavior, AioLookup, AioStream

# Latencies of interest run from sub-millisecond reads to multi-second bulk loads and streams.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30)
LABELS = ("grpc_type", "grpc_service", "grpc_method")
UNARY, CLIENT_STREAM, SERVER_STREAM, BIDI_STREAM = (
    "unary",
    "client_stream",
    "server_stream",
    "bidi_stream",
)


def grpc_type(client_streaming: bool, server_streaming: bool) -> str:
    if client_streaming:
        return BIDI_STREAM if server_streaming else CLIENT_STREAM
    return SERVER_STREAM if server_streaming else UNARY


class GrpcMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.started = Counter(
            "grpc_server_started_total",
            "Total number of RPCs started on the server.",
            LABELS,
            registry=registry,
        )
        self.handled = Counter(
            "grpc_server_handled_total",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            [*LABELS, "grpc_code"],
            registry=registry,
        )
        self.msg_received = Counter(
            "grpc_server_msg_received_total",
            "Total number of RPC stream messages received on the server.",
            LABELS,
            registry=registry,
        )
        self.msg_sent = Counter(
            "grpc_server_msg_sent_total",
            "Total number of gRPC stream messages sent by the server.",
            LABELS,
            registry=registry,
        )
        self.handling = Histogram(
            "grpc_server_handling_seconds",
            "Histogram of response latency (seconds) of gRPC that had been application-level "
            "handled by the server.",
            LABELS,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def initialize(self, service_name: str) -> None:
        """Create every series of `service_name`'s methods (all codes) at 0."""
        service = descriptor_pool.Default().FindServiceByName(service_name)
        for method in service.methods:
            labels = (
                grpc_type(method.client_streaming, method.server_streaming),
                service_name,
                method.name,
            )
            for metric in (self.started, self.msg_received, self.msg_sent, self.handling):
                metric.labels(*labels)
            for code in grpc.StatusCode:
                self.handled.labels(*labels, code.name)


class _Call:
    """One RPC's bookkeeping: started on creation, handled once by `finish`."""

    def __init__(self, metrics: GrpcMetrics, labels: tuple[str, str, str]) -> None:
        self.metrics = metrics
        self.labels = labels
        self.start = time.perf_counter()
        metrics.started.labels(*labels).inc()

    def received(self, requests: Iterable[Any]) -> Iterator[Any]:
        counter = self.metrics.msg_received.labels(*self.labels)
        for request in requests:
            counter.inc()
            yield request

    async def received_aio(self, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        counter = self.metrics.msg_received.labels(*self.labels)
        async for request in requests:
            counter.inc()
            yield request

    def finish(self, context: grpc.ServicerContext, error: BaseException | None) -> None:
        code = _final_code(context, error)
        self.metrics.handled.labels(*self.labels, code.name).inc()
        self.metrics.handling.labels(*self.labels).observe(time.perf_counter() - self.start)


def _final_code(context: grpc.ServicerContext, error: BaseException | None) -> grpc.StatusCode:
    code = context.code()  # set by abort() or set_code(); None means the default
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(error, (GeneratorExit, asyncio.CancelledError)) or not context.is_active():
        return grpc.StatusCode.CANCELLED  # the client went away before the status was sent
    return grpc.StatusCode.OK if error is None else grpc.StatusCode.UNKNOWN


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
        service, _, method = handler_call_details.method.lstrip("/").partition("/")
        kind = grpc_type(handler.request_streaming, handler.response_streaming)
        labels = (kind, service, method)
        behavior = (
            handler.unary_unary
            or handler.unary_stream
            or handler.stream_unary
            or handler.stream_stream
        )
        wrapped = (
            self._wrap_stream(behavior, labels, handler.request_streaming)
            if handler.response_streaming
            else self._wrap_unary(behavior, labels, handler.request_streaming)
        )
        factory = HANDLER_FACTORIES[(handler.request_streaming, handler.response_streaming)]
        return factory(wrapped, handler.request_deserializer, handler.response_serializer)

    def _wrap_unary(
        self, behavior: Callable[..., Any], labels: tuple[str, str, str], streaming_in: bool
    ) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            call = _Call(self._metrics, labels)
            error: BaseException | None = None
            try:
                response = behavior(_requests(call, request, streaming_in), context)
                self._metrics.msg_sent.labels(*labels).inc()
                return response
            except BaseException as raised:
                error = raised
                raise
            finally:
                call.finish(context, error)

        return wrapped

    def _wrap_stream(
        self, behavior: Callable[..., Any], labels: tuple[str, str, str], streaming_in: bool
    ) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            call = _Call(self._metrics, labels)
            sent = self._metrics.msg_sent.labels(*labels)
            error: BaseException | None = None
            try:
                for response in behavior(_requests(call, request, streaming_in), context):
                    sent.inc()
                    yield response
            except BaseException as raised:
                error = raised
                raise
            finally:
                call.finish(context, error)

        return wrapped

    def intercept_aio_stream(self, continuation: AioLookup, details: Any) -> AioStream | None:
        """The same counts for a client stream served async (vinculo.grpc_aio_streams)."""
        stream = continuation(details)
        if stream is None:
            return None
        service, _, method = details.method.lstrip("/").partition("/")
        labels = (grpc_type(True, stream.response_streaming), service, method)
        return stream.wrapped(lambda behavior: self._wrap_aio(behavior, labels))

    def _wrap_aio(self, behavior: AioBehavior, labels: tuple[str, str, str]) -> AioBehavior:
        async def wrapped(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
            call = _Call(self._metrics, labels)
            sent = self._metrics.msg_sent.labels(*labels)
            error: BaseException | None = None
            try:
                async for response in behavior(call.received_aio(requests), context):
                    sent.inc()
                    yield response
            except BaseException as raised:
                error = raised
                raise
            finally:
                call.finish(context, error)

        return wrapped


def _requests(call: _Call, request: Any, streaming_in: bool) -> Any:
    if streaming_in:
        return call.received(request)
    call.metrics.msg_received.labels(*call.labels).inc()
    return request


HANDLER_FACTORIES: dict[tuple[bool, bool], Callable[..., grpc.RpcMethodHandler]] = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}
