"""Bootstrap intervals of the model's margin over the best baseline (resampling people)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from vinculo_apps.training.evaluation import ndcg_at_k
from vinculo_apps.training.intervals import _WeightedAuc, margin_intervals


def _data(seed: int = 0, n: int = 3000) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    owners = rng.integers(0, n // 20, n)  # about 20 rows per person
    signal = rng.normal(size=n)
    y = (signal + rng.normal(size=n) > 1.0).astype(np.int64)
    gains = y * rng.integers(1, 6, n)
    return owners, signal, y, gains.astype(np.float64)


def test_weighted_auc_matches_scikit_learn_with_ties_and_weights() -> None:
    _, signal, y, _ = _data()
    scores = np.round(signal, 1)  # many ties
    weights = np.random.default_rng(1).integers(0, 4, len(y)).astype(np.float64)
    expected = roc_auc_score(y, scores, sample_weight=weights)
    assert _WeightedAuc(y, scores)(weights) == pytest.approx(expected, abs=1e-12)


def test_a_model_equal_to_the_best_baseline_has_a_zero_interval() -> None:
    owners, signal, y, gains = _data()
    baselines = {"good": signal, "noise": np.random.default_rng(2).normal(size=len(y))}
    margins = margin_intervals(y, signal.copy(), baselines, owners, gains)
    for metric in ("auc", "ndcg_at_10"):
        m = margins[metric]
        assert m["baseline"] == "good"
        assert m["margin"] == m["low"] == m["high"] == 0.0


def test_a_clearly_better_model_has_an_interval_above_zero_around_its_margin() -> None:
    owners, signal, y, gains = _data()
    better = signal + 2.0 * y  # knows much of the label
    weak = {"weak": signal + np.random.default_rng(3).normal(scale=2.0, size=len(y))}
    margins = margin_intervals(y, better, weak, owners, gains)
    auc = margins["auc"]
    assert auc["margin"] == pytest.approx(roc_auc_score(y, better) - roc_auc_score(y, weak["weak"]))
    assert 0.0 < auc["low"] < auc["margin"] < auc["high"]
    ndcg = margins["ndcg_at_10"]
    expected = ndcg_at_k(owners, better, gains) - ndcg_at_k(owners, weak["weak"], gains)
    assert ndcg["margin"] == pytest.approx(expected)
    assert 0.0 < ndcg["low"] < ndcg["margin"] < ndcg["high"]


def test_an_interval_narrows_with_more_people() -> None:
    widths = []
    for n in (1_000, 16_000):
        owners, signal, y, _ = _data(seed=4, n=n)
        noisy = signal + np.random.default_rng(5).normal(size=n)
        m = margin_intervals(y, signal, {"noisy": noisy}, owners)["auc"]
        widths.append(m["high"] - m["low"])
    assert widths[1] < widths[0] / 2  # 16x the people: about a quarter of the width


def test_a_baseline_below_half_is_counted_reversed_and_named_so() -> None:
    owners, signal, y, _ = _data()
    weaker = signal + np.random.default_rng(6).normal(size=len(y))  # the model
    baselines = {"reversed_signal": -signal, "noise": np.random.default_rng(7).normal(size=len(y))}
    auc = margin_intervals(y, weaker, baselines, owners)["auc"]
    assert roc_auc_score(y, -signal) < 0.5  # as a baseline it reads as worse than chance ...
    assert auc["baseline"] == "reversed_signal" and auc["reversed"] is True
    expected = roc_auc_score(y, weaker) - roc_auc_score(y, signal)  # ... its reverse wins
    assert auc["margin"] == pytest.approx(expected) and auc["margin"] < 0
    assert auc["low"] <= auc["margin"] <= auc["high"] < 0
    plain = margin_intervals(y, weaker, {"good": signal}, owners)["auc"]
    assert plain["reversed"] is False
