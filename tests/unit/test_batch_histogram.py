"""BatchHistogram: a batch of values observed at once is exposed exactly as
prometheus_client's Histogram exposes the same values observed one by one."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from scoring_service.batch_histogram import BatchHistogram
from scoring_service.metrics import FRESHNESS_BUCKETS


def exposed(registry: CollectorRegistry) -> tuple[list[str], float]:
    """The exposition but `_created` and `_sum`, and the sum (its float rounding may differ:
    a batch is summed before it is added)."""
    lines = generate_latest(registry).decode().splitlines()
    total = next(float(line.split()[1]) for line in lines if line.startswith("x_seconds_sum"))
    kept = [line for line in lines if "_created" not in line and "_sum" not in line]
    return kept, total


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.lists(
            st.floats(min_value=0, max_value=1e6, allow_nan=False)
            | st.sampled_from(FRESHNESS_BUCKETS),
            max_size=30,
        ),
        max_size=4,
    )
)
def test_batches_expose_what_one_by_one_observations_expose(batches: list[list[float]]) -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    one_by_one = Histogram("x_seconds", "doc", buckets=FRESHNESS_BUCKETS, registry=theirs)
    batched = BatchHistogram("x_seconds", "doc", FRESHNESS_BUCKETS, ours)
    for batch in batches:
        for value in batch:
            one_by_one.observe(value)
        batched.observe_all(batch)
    (our_lines, our_sum), (their_lines, their_sum) = exposed(ours), exposed(theirs)
    assert our_lines == their_lines
    assert math.isclose(our_sum, their_sum, rel_tol=1e-12, abs_tol=1e-12)
    assert "x_seconds_created" in generate_latest(ours).decode()


def test_the_name_is_taken_once_per_registry() -> None:
    registry = CollectorRegistry()
    BatchHistogram("x_seconds", "doc", FRESHNESS_BUCKETS, registry)
    try:
        Histogram("x_seconds", "doc", registry=registry)
    except ValueError as exc:
        assert "Duplicated timeseries" in str(exc)
    else:
        raise AssertionError("a second x_seconds was registered")
