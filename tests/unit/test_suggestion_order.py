"""`suggestions.best_first` picks the same rows, in the same order, as a full stable sort."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring_service.suggestions import best_first

# Few distinct values: ties (also 0.0 against -0.0), NaN and infinities are common.
PRIORITY = st.sampled_from([0.0, -0.0, 0.5, 1.0, -1.0, 2.0, np.inf, -np.inf, np.nan])


def full_sort(chosen: np.ndarray, priority: np.ndarray, limit: int) -> np.ndarray:
    return chosen[np.argsort(-priority[chosen], kind="stable")][:limit]


@settings(max_examples=300, deadline=None)
@given(st.lists(PRIORITY, max_size=60), st.data(), st.integers(1, 70))
def test_the_same_rows_as_a_full_stable_sort(
    values: list[float], data: st.DataObject, limit: int
) -> None:
    priority = np.array(values, dtype=np.float64)
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values))))
    chosen = np.flatnonzero(mask) if len(values) else np.zeros(0, dtype=np.intp)
    assert (
        best_first(chosen, priority, limit).tolist() == full_sort(chosen, priority, limit).tolist()
    )


def test_a_large_rule_keeps_its_order() -> None:
    rng = np.random.default_rng(7)
    priority = rng.integers(0, 50, 30_000).astype(np.float64)  # many ties at every key
    chosen = np.flatnonzero(rng.random(30_000) < 0.8)
    for limit in (1, 10, 500):
        assert (
            best_first(chosen, priority, limit).tolist()
            == full_sort(chosen, priority, limit).tolist()
        )
