"""Metrics and single-signal baselines, computed in one harness on one split.

Baselines (datasets/README.md): interaction count, recency of the last
interaction, decayed counts with half-lives 7 and 30 days, and min(outbound,
inbound) reciprocity. They read the same states the model reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from scoring_service.features.state import FloatArray
from scoring_service.model.signals import BASELINES as BASELINES
from scoring_service.model.signals import raw_signals

# The baselines are the signals a served signal model reads (scoring_service.model.signals);
# contact_seconds, seconds on calls and met in person (state schema 4), is the single
# signal issue 15 names for face-to-face data.
ECE_BINS = 10


def baseline_scores(states: FloatArray, as_of: float) -> dict[str, FloatArray]:
    return raw_signals(states, as_of)


def auc(y: np.ndarray, scores: FloatArray) -> float | None:
    return float(roc_auc_score(y, scores)) if len(np.unique(y)) == 2 else None


def ndcg_at_k(
    groups: np.ndarray, scores: FloatArray, gains: FloatArray, k: int = 10
) -> float | None:
    """Mean NDCG@k over groups (owners) with a positive gain."""
    _, owner = np.unique(groups, return_inverse=True)
    per_owner = ndcg_per_owner(owner.ravel(), scores, gains, k)
    counted = ~np.isnan(per_owner)
    return float(per_owner[counted].mean()) if counted.any() else None


def ndcg_per_owner(
    owner: np.ndarray, scores: FloatArray, gains: FloatArray, k: int = 10
) -> FloatArray:
    """NDCG@k of each owner (`owner`: indices 0..n-1 per row), NaN without a positive gain.

    Ties are scored by their expected gain over every order of the tied rows
    (as scikit-learn's ndcg_score does), so a constant baseline gets no credit
    from the input order.
    """
    _, tie = np.unique(np.column_stack([owner, scores]), axis=0, return_inverse=True)
    tie = tie.ravel()
    mean_gain = np.bincount(tie, weights=gains) / np.bincount(tie)
    dcg = _dcg(owner, -scores, mean_gain[tie], k)
    ideal = _dcg(owner, -gains, gains, k)
    result: FloatArray = np.where(ideal > 0, dcg / np.where(ideal > 0, ideal, 1.0), np.nan)
    return result


def _dcg(owner: np.ndarray, sort_key: FloatArray, gains: FloatArray, k: int) -> FloatArray:
    order = np.lexsort((sort_key, owner))
    sorted_owner = owner[order]
    starts = np.searchsorted(sorted_owner, sorted_owner, side="left")
    rank = np.arange(len(order)) - starts
    discount = np.where(rank < k, 1.0 / np.log2(rank + 2.0), 0.0)
    sums = np.bincount(sorted_owner, weights=gains[order] * discount, minlength=owner.max() + 1)
    return sums.astype(np.float64)


def reliability(
    y: np.ndarray, proba: FloatArray, bins: int = ECE_BINS
) -> tuple[float, list[dict[str, float]]]:
    """Expected calibration error over equal-width bins, and the table behind it."""
    which = np.minimum((proba * bins).astype(np.int64), bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        if not mask.any():
            continue
        predicted, observed = float(proba[mask].mean()), float(y[mask].mean())
        ece += mask.mean() * abs(predicted - observed)
        table.append(
            {
                "low": b / bins,
                "high": (b + 1) / bins,
                "count": int(mask.sum()),
                "predicted": predicted,
                "observed": observed,
            }
        )
    return float(ece), table


def metrics(
    y: np.ndarray,
    scores: FloatArray,
    owners: np.ndarray | None = None,
    gains: FloatArray | None = None,
    probabilities: bool = False,
) -> dict[str, Any]:
    """AUC always; NDCG@10 with owners and gains; ECE and accuracy for probabilities."""
    result: dict[str, Any] = {"auc": auc(y, scores)}
    if owners is not None and gains is not None:
        result["ndcg_at_10"] = ndcg_at_k(owners, scores, gains)
    if probabilities:
        ece, table = reliability(y, scores)
        result["ece"] = ece
        result["accuracy"] = float(np.mean((scores >= 0.5) == (y == 1)))
        result["reliability"] = table
    return {key: value for key, value in result.items() if value is not None}


def compare(
    y: np.ndarray,
    model_scores: FloatArray,
    states: FloatArray,
    as_of: float,
    owners: np.ndarray | None = None,
    gains: FloatArray | None = None,
    base: dict[str, FloatArray] | None = None,
) -> dict[str, Any]:
    """Model and every baseline on the same rows (`base`: the baselines' scores, when
    the caller has them already)."""
    base = baseline_scores(states, as_of) if base is None else base
    return {
        "model": metrics(y, model_scores, owners, gains, probabilities=True),
        "baselines": {name: metrics(y, base[name], owners, gains) for name in BASELINES},
    }
