"""The benchmark's statistics: percentiles, summaries and metric parsing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.stack import parse_metric
from bench.stats import LatencySummary, percentile, ratio


@pytest.mark.parametrize("q", [0, 1, 25, 50, 90, 99, 100])
def test_percentile_matches_numpy_linear(q: float) -> None:
    values = [float(v) for v in np.random.default_rng(7).exponential(3.0, size=101)]
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_edges() -> None:
    assert percentile([4.0], 99) == 4.0
    assert percentile([1.0, 2.0], 50) == 1.5
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_in_milliseconds_and_qps() -> None:
    summary = LatencySummary.of([0.001] * 99 + [0.1], elapsed_s=2.0)
    assert summary.count == 100
    assert summary.p50_ms == pytest.approx(1.0)
    assert 1.0 < summary.p99_ms <= 100.0
    assert summary.qps == pytest.approx(50.0)


def test_ratio_is_nan_when_undefined() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert math.isnan(ratio(1.0, 0.0))
    assert math.isnan(ratio(math.nan, 1.0))


def test_parse_metric_sums_label_sets_and_skips_comments() -> None:
    text = "\n".join(
        [
            "# HELP vinculo_scoring_consumer_lag lag",
            "# TYPE vinculo_scoring_consumer_lag gauge",
            'vinculo_scoring_consumer_lag{partition="0"} 3.0',
            'vinculo_scoring_consumer_lag{partition="1"} 4.0',
            "vinculo_scoring_events_consumed_total 1.2e+06",
            "vinculo_scoring_events_consumed_created 1.7e+09",
        ]
    )
    assert parse_metric(text, "vinculo_scoring_consumer_lag") == 7.0
    assert parse_metric(text, "vinculo_scoring_events_consumed_total") == 1_200_000.0
    assert math.isnan(parse_metric(text, "vinculo_absent"))
