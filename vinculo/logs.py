"""Log lines as text or JSON, carrying the gRPC method and the caller's request id.

`configure(json_lines)` sets up the root logger once per process. In JSON each
line is one object: time, level, logger, message, and within a call
`grpc_method` and `request_id` (from the caller's `x-request-id` metadata, when
present and sane). `RequestLogInterceptor` sets that context per call and logs
each call's end (`grpc_code`): at DEBUG, or WARNING for server-side failures.
No owner or contact identifier is added by default.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc

from vinculo.grpc_aio_streams import AioBehavior, AioLookup, AioStream
from vinculo.grpc_metrics import HANDLER_FACTORIES as _FACTORIES

REQUEST_ID_KEY = "x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
_SERVER_FAILURES = {"UNKNOWN", "INTERNAL", "DATA_LOSS", "UNAVAILABLE", "DEADLINE_EXCEEDED"}
_request: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "vinculo_request", default=None
)
log = logging.getLogger("vinculo.rpc")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "vinculo_request", None) or {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = _request.get()
        if context is not None and not hasattr(record, "vinculo_request"):
            record.vinculo_request = context
        return True


def configure(json_lines: bool, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestContextFilter())
    text = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(text))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def _context(method: str, context: grpc.ServicerContext) -> dict[str, str]:
    fields = {"grpc_method": method}
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and _SANE_ID.fullmatch(value):
            fields["request_id"] = value
    return fields


def _finished(fields: dict[str, str], context: grpc.ServicerContext, failed: bool) -> None:
    code = context.code()
    name = code.name if isinstance(code, grpc.StatusCode) else ("UNKNOWN" if failed else "OK")
    level = logging.WARNING if name in _SERVER_FAILURES else logging.DEBUG
    log.log(level, "rpc finished", extra={"vinculo_request": {**fields, "grpc_code": name}})


class RequestLogInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        behavior = (
            handler.unary_unary
            or handler.unary_stream
            or handler.stream_unary
            or handler.stream_stream
        )
        wrap = _wrap_stream if handler.response_streaming else _wrap_unary
        factory = _FACTORIES[(handler.request_streaming, handler.response_streaming)]
        return factory(
            wrap(behavior, method), handler.request_deserializer, handler.response_serializer
        )

    def intercept_aio_stream(self, continuation: AioLookup, details: Any) -> AioStream | None:
        """The same log context and end line for a client stream served async."""
        stream = continuation(details)
        if stream is None:
            return None
        method: str = details.method
        return stream.wrapped(lambda behavior: _wrap_aio(behavior, method))


def _wrap_aio(behavior: AioBehavior, method: str) -> AioBehavior:
    async def wrapped(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        fields = _context(method, context)
        _request.set(fields)  # in the call's own task, whose context is the call's alone
        failed = True
        try:
            async for response in behavior(requests, context):
                yield response
            failed = False
        finally:
            _finished(fields, context, failed)
            _request.set(None)

    return wrapped


def _wrap_unary(behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
        fields = _context(method, context)
        token = _request.set(fields)
        failed = True
        try:
            response = behavior(request, context)
            failed = False
            return response
        finally:
            _finished(fields, context, failed)
            _request.reset(token)

    return wrapped


def _wrap_stream(behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        fields = _context(method, context)
        failed = True
        try:
            for response in behavior(request, context):
                _request.set(fields)  # the thread may run other calls between messages
                yield response
            failed = False
        finally:
            _finished(fields, context, failed)
            _request.set(None)

    return wrapped
