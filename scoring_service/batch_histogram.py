"""A Prometheus histogram observed a whole batch of values at a time.

`prometheus_client.Histogram.observe` takes one value per call, each behind a lock
and two counter increments: for the freshness of every consumed record that was
~5% of the consumer thread (py-spy). `BatchHistogram.observe_all` counts a batch's
values into the buckets with numpy, once per commit; collection exposes the same
`_bucket`, `_count` and `_sum` series a Histogram of that name would (and its
`_created`, as the histogram's creation time).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString


def _go_float(bound: float) -> str:
    """A bucket bound as prometheus_client writes it in `le` ("0.5", "+Inf")."""
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]
    return text


class BatchHistogram(Collector):
    def __init__(
        self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds = np.array([*sorted(buckets), math.inf], dtype=np.float64)
        self._counts = np.zeros(len(self._bounds), dtype=np.int64)  # per bucket, not cumulative
        self._sum = 0.0
        self._created = time.time()
        self._lock = threading.Lock()
        registry.register(self)

    def observe_all(self, values: npt.ArrayLike) -> None:
        """Count every value (a value equal to a bound falls in that bound's bucket)."""
        observed = np.asarray(values, dtype=np.float64)
        if not observed.size:
            return
        counts = np.bincount(
            np.searchsorted(self._bounds, observed, side="left"), minlength=len(self._bounds)
        )
        total = float(observed.sum())
        with self._lock:
            self._counts += counts
            self._sum += total

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self._name, self._documentation)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            cumulative = np.cumsum(self._counts).tolist()
            total = self._sum
        family = HistogramMetricFamily(self._name, self._documentation)
        bounds = [_go_float(b) for b in self._bounds.tolist()]
        family.add_metric([], list(zip(bounds, cumulative, strict=True)), total)
        family.add_sample(self._name + "_created", {}, self._created)
        yield family
