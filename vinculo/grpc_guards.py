"""Requests that cannot be decoded get INVALID_ARGUMENT, and unknown fields are dropped.

grpcio's server logs a traceback and answers INTERNAL when a request
deserializer raises (bytes that are not the request message, or a string field
holding invalid UTF-8), before any interceptor sees the call. So the guard
replaces each method's deserializer with one that never raises: it returns
`Undecodable` instead, and the method's behaviour, wrapped, answers
INVALID_ARGUMENT naming the message type, with one log line and no traceback.
Because it sits inside the request-metrics interceptor, such calls are counted
under their method with code INVALID_ARGUMENT.

Decoded requests lose the fields this version does not know
(`DiscardUnknownFields`, recursively): nothing a client added beyond the API
is passed on to the broker or stored.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from vinculo.grpc_aio_streams import AioBehavior, AioLookup, AioStream

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Undecodable:
    """What the guarded deserializer returns for bytes that are not the request message."""

    message: str


def _guarded(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            request = deserializer(data)
        except DecodeError as exc:
            return Undecodable(str(exc))
        request.DiscardUnknownFields()
        return request

    return deserialize


def _refuse(method: str, failure: Undecodable, context: grpc.ServicerContext) -> None:
    log.warning("%s: undecodable request answered INVALID_ARGUMENT: %s", method, failure.message)
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"request: {failure.message}")


class DecodeGuardInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Undecodable requests answer INVALID_ARGUMENT; unknown fields are discarded."""

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        method: str = handler_call_details.method
        deserializer = _guarded(handler.request_deserializer)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, method),
                deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._unary_streaming(handler.unary_stream, method),
                deserializer,
                handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._streaming(handler.stream_unary, method),
                deserializer,
                handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._streaming(handler.stream_stream, method),
            deserializer,
            handler.response_serializer,
        )

    def intercept_aio_stream(self, continuation: AioLookup, details: Any) -> AioStream | None:
        """The same guard for a client stream served async (vinculo.grpc_aio_streams)."""
        stream = continuation(details)
        if stream is None or stream.request_deserializer is None:
            return stream
        method: str = details.method

        def wrap(behavior: AioBehavior) -> AioBehavior:
            async def checked(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
                async for request in requests:
                    if isinstance(request, Undecodable):
                        _refuse(method, request, context)
                    yield request

            def wrapped(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
                return behavior(checked(requests, context), context)

            return wrapped

        guarded = dataclasses.replace(
            stream, request_deserializer=_guarded(stream.request_deserializer)
        )
        return guarded.wrapped(wrap)

    @staticmethod
    def _unary(behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            if isinstance(request, Undecodable):
                _refuse(method, request, context)
            return behavior(request, context)

        return wrapped

    @staticmethod
    def _unary_streaming(behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            if isinstance(request, Undecodable):
                _refuse(method, request, context)
            yield from behavior(request, context)

        return wrapped

    @staticmethod
    def _streaming(behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        def checked(requests: Iterable[Any], context: grpc.ServicerContext) -> Iterator[Any]:
            for request in requests:
                if isinstance(request, Undecodable):
                    _refuse(method, request, context)
                yield request

        def wrapped(requests: Iterable[Any], context: grpc.ServicerContext) -> Any:
            return behavior(checked(requests, context), context)

        return wrapped
