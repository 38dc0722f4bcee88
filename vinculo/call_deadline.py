"""A server-side maximum duration for unary calls (`VINCULO_GRPC_MAX_CALL_S`).

A client sets its own deadline, or none. The server also bounds what one call
may take: a unary-unary call still running after `max_s` is answered
DEADLINE_EXCEEDED, naming the limit. Calls with a streamed request or response
(StreamEvents, WatchRelationships, health Watch) are long-lived by design and
are bounded by their own limits instead.

One watchdog thread holds the calls in progress in a heap ordered by their
deadline (no thread or timer per call). At expiry it ends the call with the
status through grpcio's call object (`context._rpc_event.call.cancel(code,
details)`, the only way grpcio's sync server offers to answer a call from
another thread; `ServicerContext.cancel()` alone would answer CANCELLED). A
Python thread cannot be stopped: the worker finishes the handler's work, and
its answer is dropped. tests/integration/test_limits.py checks the status a
real client receives, so a grpcio change that breaks this fails there.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

log = logging.getLogger(__name__)


@dataclass(order=True)
class _Watched:
    deadline: float
    seq: int
    context: Any = field(compare=False)
    done: bool = field(default=False, compare=False)


def expire(context: Any, max_s: float) -> None:
    """End a call that ran past `max_s` with DEADLINE_EXCEEDED (CANCELLED if grpcio lacks the
    status-carrying cancel)."""
    details = (
        f"the call ran longer than the server's limit of {max_s:g} s (VINCULO_GRPC_MAX_CALL_S)"
    )
    call: Any = getattr(getattr(context, "_rpc_event", None), "call", None)
    try:
        from grpc._cython import cygrpc

        call.cancel(cygrpc.StatusCode.deadline_exceeded, details)
    except (AttributeError, TypeError, ImportError):
        log.warning("grpcio offers no status-carrying cancel: the call is answered CANCELLED")
        context.cancel()


class DeadlineWatchdog:
    """Expires the calls registered with `watch` once their time is up."""

    def __init__(self, max_s: float, on_expire: Callable[[Any, float], None] = expire) -> None:
        self.max_s = max_s
        self._on_expire = on_expire
        self._heap: list[_Watched] = []
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="call-deadlines", daemon=True)
        self._thread.start()

    def watch(self, context: Any) -> _Watched:
        entry = _Watched(time.monotonic() + self.max_s, next(self._seq), context)
        with self._wake:
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:
                self._wake.notify()
        return entry

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap:
                    self._wake.wait()
                entry = self._heap[0]
                wait = entry.deadline - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._heap)
            if not entry.done:
                self._on_expire(entry.context, self.max_s)


class CallDeadlineInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Bounds every unary-unary call by the watchdog's maximum duration."""

    def __init__(self, watchdog: DeadlineWatchdog) -> None:
        self._watchdog = watchdog

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or not handler.unary_unary:
            return handler
        behavior = handler.unary_unary
        watchdog = self._watchdog

        def bounded(request: Any, context: grpc.ServicerContext) -> Any:
            entry = watchdog.watch(context)
            try:
                return behavior(request, context)
            finally:
                entry.done = True  # its heap entry is dropped when it comes up
                entry.context = None

        return grpc.unary_unary_rpc_method_handler(
            bounded, handler.request_deserializer, handler.response_serializer
        )

    def intercept_aio_stream(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        """Client streams are bounded by their own limits, not this one (module doc)."""
        return continuation(details)
