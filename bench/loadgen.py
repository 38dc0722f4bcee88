"""A closed-loop gRPC load generator: `concurrency` callers, each sending its
next request as soon as the previous answer arrived, for a fixed time.

Runs on grpc.aio in one event loop (cheaper per call than 32 threads under
one GIL), and is the same for the service and for the echo server, so the
client's own cost is in both sides of every ratio.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import grpc

from bench.stats import LatencySummary
from vinculo.security.channel import PLAINTEXT, ClientSecurity, open_aio_channel

CallFactory = Callable[[grpc.aio.Channel], Callable[[], Any]]


async def _run(
    address: str,
    make_call: CallFactory,
    concurrency: int,
    duration_s: float,
    min_requests: int,
    warmup: int,
    security: ClientSecurity,
) -> LatencySummary:
    latencies: list[float] = []
    async with open_aio_channel(address, security) as channel:
        call = make_call(channel)
        for _ in range(warmup):
            await call()
        deadline = time.perf_counter() + duration_s

        async def worker() -> None:
            while time.perf_counter() < deadline or len(latencies) < min_requests:
                sent = time.perf_counter()
                await call()
                latencies.append(time.perf_counter() - sent)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return LatencySummary.of(latencies, elapsed)


def run_load(
    address: str,
    make_call: CallFactory,
    concurrency: int,
    duration_s: float,
    min_requests: int = 50,
    warmup: int = 5,
    security: ClientSecurity = PLAINTEXT,
) -> LatencySummary:
    """Latency and QPS of `make_call(channel)()` at `concurrency` for `duration_s`
    (longer if fewer than `min_requests` answers came back by then); `security`: TLS, token."""
    return asyncio.run(
        _run(address, make_call, concurrency, duration_s, min_requests, warmup, security)
    )


def unary_call(method: str, request: bytes, decode: Callable[[bytes], Any]) -> CallFactory:
    """Calls `method` with pre-serialized `request` bytes and decodes the answer with
    `decode`: the same client work whether the server is the service or the echo."""

    def factory(channel: grpc.aio.Channel) -> Callable[[], Any]:
        stub = channel.unary_unary(method, request_serializer=None, response_deserializer=decode)
        return lambda: stub(request, timeout=30)

    return factory
