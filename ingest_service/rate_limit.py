"""A per-caller rate limit on publishing: events per second, token bucket.

`VINCULO_INGEST_RATE_EVENTS_PER_S` (0, the default: no limit; deploy/ sets one)
gives each caller a bucket holding at most one second's worth of events, and
never less than one full call (`VINCULO_INGEST_MAX_BATCH`), refilled at that
rate. A PublishEvents call, or one StreamEvents or PublishEventStream message, takes as many tokens
as it carries events, all or nothing: if the bucket holds fewer, the call (or
the stream, from that message on) is answered RESOURCE_EXHAUSTED with
`retry-after` trailing metadata, the whole seconds after which it would pass,
and nothing of it is published. Earlier messages of a stream stay published.

The caller is the authenticated identity with auth on, else the client's
address. At most `MAX_CALLERS` buckets are kept; the least recently used go.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc

from vinculo.grpc_aio_streams import AioBehavior, AioLookup, AioStream

MAX_CALLERS = 10_000
LIMITED_METHODS = (
    "/vinculo.v1.IngestService/PublishEvents",
    "/vinculo.v1.IngestService/StreamEvents",
    "/vinculo.v1.IngestService/PublishEventStream",
)


class TokenBuckets:
    """Thread-safe buckets per caller; `take` answers the seconds to wait, 0 if taken."""

    def __init__(
        self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, caller: str, cost: float) -> float:
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(caller, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            wait = 0.0 if cost <= tokens else (cost - tokens) / self.rate
            self._buckets[caller] = (tokens - cost if wait == 0.0 else tokens, now)
            if len(self._buckets) > MAX_CALLERS:
                self._buckets.popitem(last=False)
        return wait


class CallerRateInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Applies the buckets to the ingest API's publishing calls."""

    def __init__(
        self, buckets: TokenBuckets, caller: Callable[[grpc.ServicerContext], str]
    ) -> None:
        self._buckets = buckets
        self._caller = caller

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method not in LIMITED_METHODS:
            return handler
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.stream_stream:
            # Messages answered before the refused one were acknowledged, and the
            # client holds their answers: the stream tells exactly what was kept.
            return grpc.stream_stream_rpc_method_handler(
                self._stream(handler.stream_stream),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return grpc.stream_unary_rpc_method_handler(
            self._stream(handler.stream_unary),
            handler.request_deserializer,
            handler.response_serializer,
        )

    def intercept_aio_stream(self, continuation: AioLookup, details: Any) -> AioStream | None:
        """The same charge per message for a client stream served async."""
        stream = continuation(details)
        if stream is None or details.method not in LIMITED_METHODS:
            return stream
        return stream.wrapped(self._aio_stream)

    def _aio_stream(self, behavior: AioBehavior) -> AioBehavior:
        def limited(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
            caller = self._caller(context)

            async def charged() -> AsyncIterator[Any]:
                async for request in requests:
                    self._charge(context, caller, request)
                    yield request

            return behavior(charged(), context)

        return limited

    def _charge(self, context: grpc.ServicerContext, caller: str, request: Any) -> None:
        events = len(getattr(request, "events", ()))
        wait = self._buckets.take(caller, events)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            context.set_trailing_metadata((("retry-after", str(seconds)),))
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"over the rate limit of {self._buckets.rate:g} events/s per caller"
                f" (VINCULO_INGEST_RATE_EVENTS_PER_S); retry after {seconds} s",
            )

    def _unary(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        def limited(request: Any, context: grpc.ServicerContext) -> Any:
            self._charge(context, self._caller(context), request)
            return behavior(request, context)

        return limited

    def _stream(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        def limited(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            caller = self._caller(context)

            def charged() -> Iterator[Any]:
                for request in requests:
                    self._charge(context, caller, request)
                    yield request

            return behavior(charged(), context)

        return limited
