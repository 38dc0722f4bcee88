"""Bounds on open client streams, so that streams cannot take every worker thread.

The ingest server runs its calls' handlers on a pool of worker threads (grpc.aio
takes the calls; vinculo.grpc_aio_bridge), and an open StreamEvents call holds
one for as long as the client keeps it open, idle or not. Sixteen idle streams
used to take all sixteen workers: PublishEvents and the health check then
waited until a stream closed. This interceptor admits at
most `per_caller` open streams from one caller (one client address) and
`total` in all; the one over a limit is answered RESOURCE_EXHAUSTED naming the
limit and its setting. With `total` below the worker count, the remaining
workers are always free for PublishEvents, health and reflection. With an
`IdleStreams` (ingest_service.stream_idle), an admitted stream that sends
nothing for its timeout is closed, giving back its thread and its slot. A
stream the servicer serves async (vinculo.grpc_aio_streams; the ingest
service's StreamEvents and PublishEventStream) holds a thread only while a
message of it is published, so the bounds then keep slots, not threads.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import grpc

from ingest_service.stream_idle import IdleStreams
from vinculo.grpc_aio_streams import AioBehavior, AioLookup, AioStream


def caller_of(peer: str) -> str:
    """The client's address without its port: "ipv4:10.0.0.7:5123" -> "ipv4:10.0.0.7"."""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6") and ":" in rest:
        return f"{kind}:{rest.rpartition(':')[0]}"
    return peer


class StreamSlots:
    """Thread-safe counts of open streams, per caller and in total."""

    def __init__(self, total: int, per_caller: int) -> None:
        self.total = total
        self.per_caller = per_caller
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, caller: str) -> str | None:
        """None when a slot was taken; else which limit was reached."""
        with self._lock:
            if self._open.get(caller, 0) >= self.per_caller:
                return (
                    f"at most {self.per_caller} open streams per caller"
                    " (VINCULO_INGEST_MAX_STREAMS_PER_CALLER)"
                )
            if sum(self._open.values()) >= self.total:
                return f"at most {self.total} open streams in all (VINCULO_INGEST_MAX_STREAMS)"
            self._open[caller] = self._open.get(caller, 0) + 1
            return None

    def release(self, caller: str) -> None:
        with self._lock:
            left = self._open[caller] - 1
            if left:
                self._open[caller] = left
            else:
                del self._open[caller]


class StreamLimitInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Client-streaming calls beyond the limits answer RESOURCE_EXHAUSTED."""

    def __init__(self, slots: StreamSlots, idle: IdleStreams | None = None) -> None:
        self._slots = slots
        self._idle = idle

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or not handler.request_streaming:
            return handler
        method = handler_call_details.method.rpartition("/")[2]
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(handler.stream_unary, method),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._streaming(handler.stream_stream, method),
            handler.request_deserializer,
            handler.response_serializer,
        )

    def intercept_aio_stream(self, continuation: AioLookup, details: Any) -> AioStream | None:
        """The same limits for a client stream served async (vinculo.grpc_aio_streams):
        while it waits for a message it holds its slot but no thread."""
        stream = continuation(details)
        if stream is None:
            return None
        method = details.method.rpartition("/")[2]
        return stream.wrapped(lambda behavior: self._aio(behavior, method))

    def _aio(self, behavior: AioBehavior, method: str) -> AioBehavior:
        async def wrapped(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
            caller = self._admit(method, context)
            try:
                watched = (
                    requests
                    if self._idle is None
                    else self._idle.aio_watching(requests, context, method)
                )
                async for response in behavior(watched, context):
                    yield response
            finally:
                self._slots.release(caller)

        return wrapped

    def _admit(self, method: str, context: grpc.ServicerContext) -> str:
        caller = caller_of(context.peer())
        refused = self._slots.acquire(caller)
        if refused is not None:
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{method}: {refused}; close a stream or retry later",
            )
        return caller

    def _unary(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        def wrapped(requests: Any, context: grpc.ServicerContext) -> Any:
            caller = self._admit(method, context)
            try:
                with self._watched(requests, context, method) as watched:
                    return behavior(watched, context)
            finally:
                self._slots.release(caller)

        return wrapped

    def _streaming(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        def wrapped(requests: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            caller = self._admit(method, context)
            try:
                with self._watched(requests, context, method) as watched:
                    yield from behavior(watched, context)
            finally:
                self._slots.release(caller)

        return wrapped

    def _watched(
        self, requests: Any, context: grpc.ServicerContext, method: str
    ) -> AbstractContextManager[Any]:
        if self._idle is None:
            return nullcontext(requests)
        return self._idle.watching(requests, context, method)
