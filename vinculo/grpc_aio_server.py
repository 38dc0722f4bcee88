"""`AioServiceServer`: ServiceServer (health, reflection, metrics) on a grpc.aio server.

The ingest service uses it so that a call whose request is still arriving, a
refused stream, and an admitted stream waiting for its next message (a method
the servicer offers async: vinculo.grpc_aio_streams) cost no thread
(docs/decisions/0012-ingest-streams.md); the scoring service stays on grpcio's
synchronous server. Everything above the server is shared: the same health
servicer, reflection, interceptors and servicers, run by
vinculo.grpc_aio_bridge. The aio server runs on an event
loop in its own thread; `start`, `stop` and `wait` are called as before.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from vinculo.grpc_aio_bridge import Dispatch, intercepted, loop_thread
from vinculo.grpc_aio_streams import (
    AioBehavior,
    AioStream,
    aio_handler,
    aio_intercepted,
    serves_aio_streams,
)
from vinculo.grpc_server import ServiceServer


class BridgedServer:
    """The part of the grpc.Server API ServiceServer and generated code use, served by aio."""

    def __init__(
        self,
        max_workers: int,
        interceptors: Sequence[grpc.ServerInterceptor],
        options: Sequence[tuple[str, Any]],
    ) -> None:
        self._interceptors = list(interceptors)
        self._generic: list[grpc.GenericRpcHandler] = []
        self._registered: dict[str, grpc.RpcMethodHandler] = {}
        self._aio_streams: dict[str, AioBehavior] = {}
        self._loop, self._thread = loop_thread("grpc-aio")
        self._dispatch = Dispatch(self._loop, max_workers)
        self._server: grpc.aio.Server = self._on_loop(self._create(list(options)))

    def _on_loop(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _create(self, options: list[tuple[str, Any]]) -> grpc.aio.Server:
        return grpc.aio.server(handlers=[_Bridge(self)], options=options)

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._generic.extend(handlers)

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        for name, handler in handlers.items():
            self._registered[f"/{service}/{name}"] = handler

    def add_aio_stream_behaviors(self, service: str, behaviors: dict[str, AioBehavior]) -> None:
        """Client-streaming methods the servicer also offers natively async."""
        for name, behavior in behaviors.items():
            self._aio_streams[f"/{service}/{name}"] = behavior

    def lookup(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = self._registered.get(details.method)
        if handler is not None:
            return handler
        for generic in self._generic:
            handler = generic.service(details)
            if handler is not None:
                return handler
        return None

    def handler(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        behavior = self._aio_streams.get(details.method)
        if behavior is not None and serves_aio_streams(self._interceptors):
            stream = aio_intercepted(
                self._interceptors, lambda d: self._aio_stream(d, behavior), details
            )
            if stream is None:
                return None
            return aio_handler(stream, self._dispatch.loop, self._dispatch.executor)
        found = intercepted(self._interceptors, self.lookup, details)
        return None if found is None else self._dispatch.aio_handler(found)

    def _aio_stream(
        self, details: grpc.HandlerCallDetails, behavior: AioBehavior
    ) -> AioStream | None:
        handler = self.lookup(details)  # the generated handler: its (de)serializers
        if handler is None:
            return None
        return AioStream(
            behavior,
            handler.request_deserializer,
            handler.response_serializer,
            bool(handler.response_streaming),
        )

    def add_insecure_port(self, address: str) -> int:
        return int(self._on_loop(self._call(self._server.add_insecure_port, address)))

    def add_secure_port(self, address: str, credentials: grpc.ServerCredentials) -> int:
        return int(self._on_loop(self._call(self._server.add_secure_port, address, credentials)))

    @staticmethod
    async def _call(function: Any, *args: Any) -> Any:
        return function(*args)

    def start(self) -> None:
        self._on_loop(self._server.start())

    def stop(self, grace: float | None) -> threading.Event:
        """Stop taking calls, let those running finish for `grace` s, then end the loop."""
        try:
            self._on_loop(self._server.stop(grace))
        finally:
            self._dispatch.executor.shutdown(wait=False, cancel_futures=True)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        stopped = threading.Event()
        stopped.set()
        return stopped

    def wait_for_termination(self) -> None:
        self._on_loop(self._server.wait_for_termination())


class _Bridge(grpc.GenericRpcHandler):  # type: ignore[misc]
    def __init__(self, server: BridgedServer) -> None:
        self._server = server

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        return self._server.handler(handler_call_details)


class AioServiceServer(ServiceServer):
    """ServiceServer whose calls are taken by grpc.aio and run in `max_workers` threads."""

    def _new_server(
        self,
        max_workers: int,
        interceptors: Sequence[grpc.ServerInterceptor],
        options: Sequence[tuple[str, Any]],
    ) -> Any:
        return BridgedServer(max_workers, interceptors, options)

    def add(self, register: Callable[[Any, grpc.Server], None], servicer: Any, name: str) -> None:
        """As ServiceServer.add; client streams the servicer offers async
        (`aio_stream_behaviors()`) are served without a thread while they wait."""
        super().add(register, servicer, name)
        offered = getattr(servicer, "aio_stream_behaviors", None)
        if offered is not None:
            self._server.add_aio_stream_behaviors(name, offered())
