"""Latency statistics and timing helpers shared by the benchmark modules."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between ranks.

    Same definition as numpy's default ("linear"): p0 is the minimum, p100 the
    maximum. NaN for an empty sequence.
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within 0..100, not {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    fraction = rank - low
    return float(ordered[low] + (ordered[high] - ordered[low]) * fraction)


@dataclass(frozen=True)
class LatencySummary:
    """Latencies in milliseconds and the throughput of the run that produced them."""

    count: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    qps: float

    @classmethod
    def of(cls, latencies_s: Sequence[float], elapsed_s: float) -> LatencySummary:
        count = len(latencies_s)
        mean = sum(latencies_s) / count if count else math.nan
        return cls(
            count=count,
            p50_ms=percentile(latencies_s, 50) * 1000.0,
            p99_ms=percentile(latencies_s, 99) * 1000.0,
            mean_ms=mean * 1000.0,
            qps=count / elapsed_s if elapsed_s > 0 else math.nan,
        )


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when either is missing or the denominator is 0."""
    if denominator == 0 or math.isnan(numerator) or math.isnan(denominator):
        return math.nan
    return numerator / denominator


def wait_until(
    condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.05, what: str = ""
) -> float:
    """Poll until condition() is true; returns the monotonic time it became true."""
    deadline = time.monotonic() + timeout_s
    while True:
        if condition():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what or condition}")
        time.sleep(interval_s)
