"""The async stream path's pieces: the idle bound on the event loop, and which chains take it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from ingest_service.rate_limit import CallerRateInterceptor
from ingest_service.stream_idle import IDLE_CODE, IdleStreams
from ingest_service.stream_limits import StreamLimitInterceptor
from vinculo.call_deadline import CallDeadlineInterceptor
from vinculo.grpc_aio_bridge import Aborted
from vinculo.grpc_aio_streams import serves_aio_streams
from vinculo.grpc_guards import DecodeGuardInterceptor
from vinculo.grpc_metrics import MetricsInterceptor
from vinculo.logs import RequestLogInterceptor
from vinculo.security.interceptor import AuthInterceptor


class AbortingContext:
    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code, details)


async def _sent(messages: list[str], pause_s: float) -> AsyncIterator[str]:
    for message in messages:
        yield message
    await asyncio.sleep(pause_s)  # then silent: an idle client
    yield "late"


async def _collect(idle: IdleStreams, requests: AsyncIterator[str]) -> list[str]:
    return [r async for r in idle.aio_watching(requests, AbortingContext(), "StreamEvents")]


def test_an_idle_async_stream_is_ended_with_the_idle_status_and_message() -> None:
    idle = IdleStreams(timeout_s=0.2)
    started = time.monotonic()
    with pytest.raises(Aborted) as ended:
        asyncio.run(_collect(idle, _sent(["a", "b"], pause_s=30)))
    waited = time.monotonic() - started
    assert ended.value.code == IDLE_CODE
    assert ended.value.details == idle.details("StreamEvents")
    assert "VINCULO_INGEST_STREAM_IDLE_TIMEOUT_S" in ended.value.details
    assert idle.timeout_s <= waited < idle.timeout_s + idle.tick + 2
    assert idle.closed_count == 1


def test_an_async_stream_sending_within_the_timeout_passes_every_message() -> None:
    idle = IdleStreams(timeout_s=2)
    assert asyncio.run(_collect(idle, _sent(["a"], pause_s=0.05))) == ["a", "late"]
    assert idle.closed_count == 0


def test_no_timeout_means_an_async_stream_may_wait() -> None:
    assert asyncio.run(_collect(IdleStreams(0), _sent([], pause_s=0.3))) == ["late"]


def test_every_interceptor_of_the_ingest_server_wraps_async_streams() -> None:
    """Else StreamEvents falls back to the sync path, a thread per idle stream."""
    classes: list[Any] = [
        MetricsInterceptor,
        RequestLogInterceptor,
        DecodeGuardInterceptor,
        CallDeadlineInterceptor,
        AuthInterceptor,
        StreamLimitInterceptor,
        CallerRateInterceptor,
    ]
    assert serves_aio_streams(classes)
    assert not serves_aio_streams([*classes, grpc.ServerInterceptor])
