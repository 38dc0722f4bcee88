"""Token buckets per caller: all-or-nothing takes, refill at the rate, the wait answered."""

from __future__ import annotations

from ingest_service.rate_limit import TokenBuckets


def test_buckets_refill_at_the_rate_and_answer_the_wait() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=10.0, capacity=20.0, clock=lambda: now[0])
    assert buckets.take("a", 20) == 0.0
    assert buckets.take("a", 5) == 0.5  # refused: nothing taken, half a second to wait
    assert buckets.take("b", 20) == 0.0  # another caller has its own bucket
    now[0] = 0.5
    assert buckets.take("a", 5) == 0.0
    now[0] = 100.0
    assert buckets.take("a", 21) > 0  # never more than the capacity
