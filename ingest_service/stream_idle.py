"""Closing streams whose client sends nothing, so that idle streams give their threads back.

A stream's handler is synchronous code run on a worker thread (under grpc.aio,
through vinculo.grpc_aio_bridge) and, while it waits for the client's next
message, that thread is blocked (measured: one thread per open stream, idle or not, and nothing
else; see docs/decisions/0012-ingest-streams.md). The stream bounds
(ingest_service.stream_limits) keep workers free for unary calls and health;
this module frees the threads themselves: one watchdog thread for all streams
looks, about four times per timeout, for a handler that has waited longer than
`timeout_s` (VINCULO_INGEST_STREAM_IDLE_TIMEOUT_S) for a message, and ends
that call with DEADLINE_EXCEEDED and a message naming the setting. The
handler's wait then ends, the call finishes, its thread and its stream slot
return. Time the handler spends publishing does not count as idle. A stream
served async (vinculo.grpc_aio_streams) holds no thread while it waits; its
wait is bounded on the event loop instead (`aio_watching`), with the same
status and message.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from grpc._cython import cygrpc  # the core call, for a status of our own

log = logging.getLogger(__name__)

IDLE_CODE = grpc.StatusCode.DEADLINE_EXCEEDED


class _Watched:
    __slots__ = ("closed", "context", "method", "waiting_since")

    def __init__(self, context: grpc.ServicerContext, method: str) -> None:
        self.context = context
        self.method = method
        self.waiting_since: float | None = None
        self.closed = False


def _end_call(context: grpc.ServicerContext, details: str) -> None:
    """End the call now with `IDLE_CODE` and `details`, from a thread other than its handler.

    The public `ServicerContext.cancel()` ends it as CANCELLED with no message;
    the core call underneath it can send a status of our choice (grpcio 1.85,
    seen working in tests/integration/test_ingest_streams.py), so that is used
    when present.
    """
    call = getattr(getattr(context, "_rpc_event", None), "call", None)
    if call is not None and hasattr(call, "cancel"):
        call.cancel(cygrpc.StatusCode.deadline_exceeded, details)
    else:
        context.cancel()


class IdleStreams:
    """Watches the request side of open streams; closes those idle for `timeout_s`."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.closed_count = 0
        self._open: dict[int, _Watched] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.timeout_s <= 0:
            return  # 0: streams may idle for ever (bounded only by stream_limits)
        self._thread = threading.Thread(target=self._watch, name="stream-idle", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def details(self, method: str) -> str:
        return (
            f"{method}: no message for {self.timeout_s:g} s"
            " (VINCULO_INGEST_STREAM_IDLE_TIMEOUT_S), the stream was closed; what was"
            " acknowledged before stays accepted: open a new stream to send more"
        )

    @contextmanager
    def watching(
        self, requests: Iterable[Any], context: grpc.ServicerContext, method: str
    ) -> Iterator[Iterator[Any]]:
        """The call's requests, watched while the call runs."""
        watched = _Watched(context, method)
        with self._lock:
            self._open[id(watched)] = watched
        try:
            yield self._requests(iter(requests), watched)
        finally:
            with self._lock:
                del self._open[id(watched)]

    async def aio_watching(
        self, requests: AsyncIterator[Any], context: Any, method: str
    ) -> AsyncIterator[Any]:
        """The requests of a stream served async: a wait for a message longer than the
        timeout (plus the watchdog's tick, as for sync streams: a client that sends within
        `timeout_s` of its last answer, as it sees it, is never closed) ends the call with
        `IDLE_CODE` (no watchdog needed: the wait itself is bounded on the event loop)."""
        pending = aiter(requests)
        while True:
            try:
                if self.timeout_s > 0:
                    request = await asyncio.wait_for(anext(pending), self.timeout_s + self.tick)
                else:
                    request = await anext(pending)
            except StopAsyncIteration:
                return
            except TimeoutError:
                log.info("closing an idle %s stream after %g s", method, self.timeout_s)
                self.closed_count += 1
                context.abort(IDLE_CODE, self.details(method))
            yield request

    def _requests(self, requests: Iterator[Any], watched: _Watched) -> Iterator[Any]:
        while True:
            watched.waiting_since = time.monotonic()
            try:
                request = next(requests)
            except StopIteration:
                self._abort_if_closed(watched)
                return
            except grpc.RpcError:
                self._abort_if_closed(watched)
                raise
            finally:
                watched.waiting_since = None
            yield request

    def _abort_if_closed(self, watched: _Watched) -> None:
        """A wait the watchdog ended (as end of stream or as an error, depending on when the
        close reached the core): record the code for the metrics; the status itself was
        sent by the watchdog."""
        if watched.closed:
            watched.context.abort(IDLE_CODE, self.details(watched.method))

    def check(self, now: float) -> int:
        """Close the streams idle for longer than the timeout at `now`; return how many."""
        with self._lock:
            idle = [
                w
                for w in self._open.values()
                if not w.closed
                and w.waiting_since is not None
                and now - w.waiting_since > self.timeout_s
            ]
            for watched in idle:
                watched.closed = True
        for watched in idle:
            log.info("closing an idle %s stream after %g s", watched.method, self.timeout_s)
            _end_call(watched.context, self.details(watched.method))
        self.closed_count += len(idle)
        return len(idle)

    @property
    def tick(self) -> float:
        """How often the watchdog looks: a stream is closed at most this late."""
        return min(1.0, self.timeout_s / 4)

    def _watch(self) -> None:
        while not self._stop.wait(self.tick):
            self.check(time.monotonic())
