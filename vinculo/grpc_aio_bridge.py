"""Synchronous gRPC handlers and interceptors served by a grpc.aio server.

grpcio's synchronous server takes a pool thread for a call as soon as its
headers arrive and holds it until the request message is complete, before any
interceptor runs: about 1,000 half-sent calls froze the ingest service
(docs/decisions/0012-ingest-streams.md). Under grpc.aio a call costs no thread
while its request is arriving. This module keeps the services' synchronous
code (servicers, and the interceptors both services share: metrics, request
log, decode guard, authentication, call deadline, stream limits, rate limit)
and runs it on an aio server, so the policy is written once:

- the interceptors run, in order, when a call's handler is looked up (they
  only wrap handlers, which is cheap);
- a call's (wrapped) behaviour runs in a bounded executor
  (`loop.run_in_executor`) once its request message has fully arrived; a
  streamed request is read by the event loop and handed to the thread message
  by message;
- `BridgeContext` is the `grpc.ServicerContext` that code sees: `abort`,
  `set_code`, `set_trailing_metadata`, `peer`, `invocation_metadata`,
  `auth_context`, `is_active`, `add_callback`, `cancel`, and the core call's
  `cancel(code, details)` that the call-deadline and idle-stream watchdogs use
  to end a call from another thread, are carried to the aio call.

What still holds a thread: a call while its behaviour runs, and a stream
whose handler waits for the client's next message (bounded per caller and in
total by the ingest stream limits, and closed when idle) -- unless the
servicer offers the method natively async and every interceptor has an async
stream wrapper (vinculo.grpc_aio_streams): then the stream waits on the event
loop and takes a thread only for `BridgeContext.run_in_worker` (a batch's
publish).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import grpc

_END = object()  # end of a request stream, or of a response iterator


class Aborted(Exception):  # the sync context's abort, raised through the handler
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def _status_code(core_code: Any) -> grpc.StatusCode:
    """grpc.StatusCode for a core (cygrpc) status code, or a grpc.StatusCode itself."""
    if isinstance(core_code, grpc.StatusCode):
        return core_code
    for code in grpc.StatusCode:
        if code.value[0] == int(core_code):
            return code
    return grpc.StatusCode.UNKNOWN


class _CoreCall:
    """What the watchdogs reach as `context._rpc_event.call`: `cancel(code, details)`."""

    def __init__(self, bridge: BridgeContext) -> None:
        self._bridge = bridge

    def cancel(self, code: Any, details: str) -> None:
        self._bridge.end(_status_code(code), details)


class _RpcEvent:
    def __init__(self, bridge: BridgeContext) -> None:
        self.call = _CoreCall(bridge)


class BridgeContext:
    """A synchronous servicer context over a grpc.aio one; made on the event loop."""

    def __init__(
        self,
        context: grpc.aio.ServicerContext,
        loop: asyncio.AbstractEventLoop,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        self._context = context
        self._loop = loop
        self._executor = executor
        self._peer = context.peer()
        self._metadata = tuple(context.invocation_metadata() or ())
        self._auth = context.auth_context()
        self._code: grpc.StatusCode | None = None
        self._details = ""
        self._trailing: tuple[tuple[str, str], ...] = ()
        self._active = True
        self._ended: asyncio.Future[tuple[grpc.StatusCode, str]] = loop.create_future()
        self._rpc_event = _RpcEvent(self)

    # --- the grpc.ServicerContext surface the services use ---
    def peer(self) -> str:
        return str(self._peer)

    def invocation_metadata(self) -> tuple[Any, ...]:
        return self._metadata

    def auth_context(self) -> Any:
        return self._auth

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str:
        return self._details

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def set_trailing_metadata(self, metadata: Sequence[tuple[str, str]]) -> None:
        self._trailing = tuple(metadata)

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details
        raise Aborted(code, details)

    def is_active(self) -> bool:
        return self._active

    def time_remaining(self) -> float | None:
        remaining: float | None = self._context.time_remaining()
        return remaining

    def cancel(self) -> None:
        self.end(grpc.StatusCode.CANCELLED, "cancelled by the server")

    def add_callback(self, callback: Callable[[], None]) -> bool:
        self._loop.call_soon_threadsafe(self._context.add_done_callback, lambda _c: callback())
        return True

    # --- the bridge ---
    def end(self, code: grpc.StatusCode, details: str) -> None:
        """End the call with `code` now; callable from any thread."""
        self._loop.call_soon_threadsafe(self._end_on_loop, code, details)

    def _end_on_loop(self, code: grpc.StatusCode, details: str) -> None:
        self._active = False
        if not self._ended.done():
            self._ended.set_result((code, details))

    async def run_in_worker(self, function: Callable[..., Any], *args: Any) -> Any:
        """`function(*args)` in the server's bounded executor (with this task's context
        variables, so its log lines carry the call's); on the event loop only.

        If the call is ended meanwhile (`end`), its status is raised as the abort it is,
        through the async wrappers, and the worker's answer is dropped."""
        runner = contextvars.copy_context().run
        work = self._loop.run_in_executor(self._executor, runner, function, *args)
        await asyncio.wait((work, self._ended), return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            code, details = self._ended.result()
            self._code, self._details = code, details
            raise Aborted(code, details)
        return work.result()

    async def answer_abort(self, aborted: Aborted) -> None:
        """Send an abort raised by sync policy code as the call's status (always raises)."""
        await self._answer(aborted.code, aborted.details)

    async def finish(self, result: Any) -> Any:
        """`result`, after sending any code and trailing metadata the call's code set."""
        if self._code not in (None, grpc.StatusCode.OK):
            await self._answer(self._code, self._details)
        if self._trailing:
            self._context.set_trailing_metadata(self._trailing)
        return result

    def requests(self, requests: AsyncIterator[Any]) -> Iterator[Any]:
        """The streamed request for a worker thread: each message read by the event loop."""
        while True:
            request = self._wait(asyncio.run_coroutine_threadsafe(self._read(requests), self._loop))
            if request is _END:
                return
            yield request

    def _wait(self, pending: concurrent.futures.Future[Any]) -> Any:
        """The read's result; the end of the stream if the server's loop stopped meanwhile
        (so that no worker thread is left waiting for ever after a stop)."""
        while True:
            try:
                return pending.result(timeout=1.0)
            except concurrent.futures.TimeoutError:
                if not self._loop.is_running():
                    pending.cancel()
                    return _END

    async def _read(self, requests: AsyncIterator[Any]) -> Any:
        read = asyncio.ensure_future(requests.__anext__())
        await asyncio.wait((read, self._ended), return_when=asyncio.FIRST_COMPLETED)
        if not read.done():  # the call was ended: the handler sees the end of the stream
            read.cancel()
            return _END
        try:
            return read.result()
        except StopAsyncIteration:
            return _END

    async def outcome(self, work: asyncio.Future[Any]) -> Any:
        """`work`'s result, or the call answered with the status the code chose."""
        try:
            await asyncio.wait((work, self._ended), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the client went away
            self._end_on_loop(grpc.StatusCode.CANCELLED, "the client cancelled the call")
            raise
        if not work.done():  # ended from another thread; the worker's answer is dropped
            code, details = self._ended.result()
            await self._context.abort(code, details)
        try:
            result = work.result()
        except Aborted as aborted:
            await self._answer(aborted.code, aborted.details)
            raise AssertionError("aio abort always raises") from None
        if self._code not in (None, grpc.StatusCode.OK):
            await self._answer(self._code, self._details)
        if self._trailing:
            self._context.set_trailing_metadata(self._trailing)
        return result

    async def _answer(self, code: grpc.StatusCode, details: str) -> None:
        if self._trailing:
            self._context.set_trailing_metadata(self._trailing)
        await self._context.abort(code, details)


class Dispatch:
    """Runs synchronous behaviours for an aio server's calls in a bounded executor."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_workers: int) -> None:
        self.loop = loop
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="grpc"
        )

    def run(self, function: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        return self.loop.run_in_executor(self.executor, function, *args)

    def aio_handler(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """The same method, answered by the aio server with `handler`'s sync behaviour."""
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, streamed=False),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(handler.stream_unary, streamed=True),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(handler.unary_stream, streamed=False),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._streaming(handler.stream_stream, streamed=True),
            handler.request_deserializer,
            handler.response_serializer,
        )

    def _unary(self, behavior: Callable[..., Any], streamed: bool) -> Callable[..., Any]:
        async def answer(request: Any, context: grpc.aio.ServicerContext) -> Any:
            bridge = BridgeContext(context, self.loop)
            argument = bridge.requests(request) if streamed else request
            return await bridge.outcome(self.run(behavior, argument, bridge))

        return answer

    def _streaming(self, behavior: Callable[..., Any], streamed: bool) -> Callable[..., Any]:
        async def answer(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            bridge = BridgeContext(context, self.loop)
            argument = bridge.requests(request) if streamed else request
            responses = await bridge.outcome(self.run(_started, behavior, argument, bridge))
            while True:
                response = await bridge.outcome(self.run(next, responses, _END))
                if response is _END:
                    return
                yield response

        return answer


def _started(behavior: Callable[..., Any], argument: Any, context: BridgeContext) -> Any:
    return iter(behavior(argument, context))


Lookup = Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None]


def intercepted(
    interceptors: Sequence[grpc.ServerInterceptor], lookup: Lookup, details: Any
) -> grpc.RpcMethodHandler | None:
    """The handler for `details` as the synchronous server would build it: the first
    interceptor outermost."""

    def step(index: int) -> Lookup:
        if index == len(interceptors):
            return lookup
        interceptor = interceptors[index]
        following = step(index + 1)
        return lambda d: interceptor.intercept_service(following, d)

    return step(0)(details)


def loop_thread(name: str) -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    """A new event loop running in its own daemon thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=name, daemon=True)
    thread.start()
    return loop, thread
