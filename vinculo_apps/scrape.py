"""The one Prometheus scraper of the applications, the bench and the tests.

It reads the text format with prometheus_client's own parser (no regex), so
label values with spaces or braces, exemplars and escaped quotes are read the
way Prometheus reads them.
"""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def fetch_metrics(url: str, timeout_s: float = 5.0) -> str:
    """The text of a /metrics page."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return str(response.read().decode())


def sum_samples(text: str, name: str, labels: dict[str, str] | None = None) -> float | None:
    """Sum of the samples called `name` whose labels include `labels`; None if there is none.

    `name` is a sample name, so a histogram's `..._count` and `..._sum` work.
    """
    wanted = (labels or {}).items()
    values = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and wanted <= sample.labels.items()
    ]
    return sum(values) if values else None


def scrape_metric(url: str, name: str, **labels: str) -> float:
    """Sum of a metric's samples (matching `labels`) at a /metrics URL; 0 if none."""
    return sum_samples(fetch_metrics(url), name, labels) or 0.0
