"""Client streams served natively async on the aio server: an idle stream holds no thread.

Through vinculo.grpc_aio_bridge a streamed request's synchronous handler runs
in a worker thread and, while it waits for the client's next message, holds
that thread. A servicer can instead offer a method as an async behaviour
(`aio_stream_behaviors()`): it awaits each message on the event loop and sends
only its real work (a batch's validation and publish) to the bounded executor
with `BridgeContext.run_in_worker`.

The policies still apply to such a stream exactly as to a synchronous one.
Each interceptor that wraps client streams has, beside `intercept_service`,
an `intercept_aio_stream(continuation, details)` of the same shape that wraps
an `AioStream`: a thin async wrapper around the same decision functions its
synchronous wrapper calls (who is calling, may they, is a slot free, is the
message decodable, is the caller over its rate...). Those functions run on the
event loop (they are short; `context.abort` raises `Aborted` there as in a
worker), and the first interceptor is again outermost. A method takes this
path only when every interceptor of the server has such a wrapper; otherwise
it is served through the synchronous path as before, so no policy is skipped.

Inside the chain every behaviour is an async generator of responses (a
stream-unary method's yields its one response), so each wrapper is written
once for both stream kinds. The chain is always run to its end or unwound by
an exception (an abort, or the task's cancellation when the client goes
away), so each wrapper's `finally` (a stream slot, the handled count) runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc

from vinculo.grpc_aio_bridge import Aborted, BridgeContext

AioBehavior = Callable[[AsyncIterator[Any], BridgeContext], AsyncIterator[Any]]


@dataclasses.dataclass(frozen=True)
class AioStream:
    """A client-streaming method's async behaviour and its (de)serializers."""

    behavior: AioBehavior
    request_deserializer: Callable[[bytes], Any] | None
    response_serializer: Callable[[Any], bytes] | None
    response_streaming: bool

    def wrapped(self, wrap: Callable[[AioBehavior], AioBehavior]) -> AioStream:
        return dataclasses.replace(self, behavior=wrap(self.behavior))


AioLookup = Callable[[Any], "AioStream | None"]


def serves_aio_streams(interceptors: Sequence[Any]) -> bool:
    """Whether every interceptor can wrap an async stream (else the sync path is used)."""
    return all(hasattr(interceptor, "intercept_aio_stream") for interceptor in interceptors)


def aio_intercepted(
    interceptors: Sequence[Any], lookup: AioLookup, details: Any
) -> AioStream | None:
    """`lookup`'s stream for `details` wrapped by the interceptors, the first outermost."""

    def step(index: int) -> AioLookup:
        if index == len(interceptors):
            return lookup
        interceptor = interceptors[index]
        following = step(index + 1)
        return lambda d: interceptor.intercept_aio_stream(following, d)

    return step(0)(details)


def aio_handler(
    stream: AioStream, loop: asyncio.AbstractEventLoop, executor: concurrent.futures.Executor
) -> grpc.RpcMethodHandler:
    """The aio server's handler: the chain sees a BridgeContext; an `Aborted` raised by a
    policy or by the servicer's work is sent as the call's status."""

    async def responses(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        bridge = BridgeContext(context, loop, executor)
        try:
            async for answer in stream.behavior(requests, bridge):
                yield answer
        except Aborted as aborted:
            await bridge.answer_abort(aborted)
        await bridge.finish(None)

    async def unary(requests: AsyncIterator[Any], context: Any) -> Any:
        results = [result async for result in responses(requests, context)]
        return results[-1] if results else None

    if stream.response_streaming:
        return grpc.stream_stream_rpc_method_handler(
            responses, stream.request_deserializer, stream.response_serializer
        )
    return grpc.stream_unary_rpc_method_handler(
        unary, stream.request_deserializer, stream.response_serializer
    )
