"""The whole-stack CPU row: every process but the load generator, over the raw peer's."""

from __future__ import annotations

import math

from bench.cpu import stack_cpu_ratio


def test_the_load_generator_is_left_out_of_the_stack_and_counted_for_the_raw_peer() -> None:
    stack = {"ingest_service": 80.0, "scoring_service": 100.0, "broker": 20.0, "bench": 50.0}
    raw = {"ingest_service": 1.0, "scoring_service": 1.0, "broker": 18.0, "bench": 80.0}
    assert stack_cpu_ratio(stack, raw, "bench") == 2.0


def test_no_raw_cpu_gives_no_ratio() -> None:
    assert math.isnan(stack_cpu_ratio({"broker": 1.0}, {}, "bench"))
