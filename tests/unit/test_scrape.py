"""The one metrics scraper reads the text format the way Prometheus does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from vinculo_apps.scrape import scrape_metric, sum_samples

TEXT = "\n".join(
    [
        "# HELP calls_total calls",
        "# TYPE calls_total counter",
        'calls_total{method="a b",code="OK"} 3.0',
        'calls_total{method="x}{y",code="OK"} 4.0',
        'calls_total{method="a b",code="NOT_FOUND"} 5.0',
        "",
    ]
)


def test_samples_are_summed_over_the_label_sets_that_match() -> None:
    assert sum_samples(TEXT, "calls_total") == 12.0
    assert sum_samples(TEXT, "calls_total", {"code": "OK"}) == 7.0
    assert sum_samples(TEXT, "calls_total", {"method": "x}{y"}) == 4.0  # braces in a value


def test_an_absent_metric_is_none_not_zero() -> None:
    assert sum_samples(TEXT, "absent_total") is None
    assert sum_samples(TEXT, "calls_total", {"code": "INTERNAL"}) is None


@pytest.fixture
def metrics_url() -> Iterator[str]:
    registry = CollectorRegistry()
    Counter("vinculo_test_events", "events", ["kind"], registry=registry).labels("a").inc(2)
    Histogram("vinculo_test_seconds", "time", registry=registry).observe(0.5)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        server.shutdown()
        thread.join(5)


def test_a_live_page_is_scraped_with_labels_and_histogram_samples(metrics_url: str) -> None:
    assert scrape_metric(metrics_url, "vinculo_test_events_total", kind="a") == 2.0
    assert scrape_metric(metrics_url, "vinculo_test_events_total", kind="b") == 0.0
    assert scrape_metric(metrics_url, "vinculo_test_seconds_count") == 1.0
    assert scrape_metric(metrics_url, "vinculo_test_seconds_sum") == 0.5
