"""How sure a margin is: the model minus the best baseline, with a bootstrap interval.

The targets compare the model with the best baseline on one test window, and a
margin of 0.01 on about a thousand positives can be noise. People (owners) are
resampled with replacement, each with all of its rows, because one person's rows
are not independent of each other. The margin is recomputed on every resample,
and the 2.5th and 97.5th percentiles bound it. The best baseline is the one
chosen on the whole window, as the printed margin uses. A baseline whose AUC is
below 0.5 is counted reversed (its reverse is a signal the model must beat too),
and the margin says so (`reversed`).

A resample is a weight per owner (how often it was drawn), so nothing is
gathered or re-sorted: AUC is computed once per resample from one sort of the
scores with weighted counts, and NDCG@10 is a weighted mean of per-owner values
computed once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scoring_service.features.state import FloatArray
from vinculo_apps.training.evaluation import ndcg_per_owner

RESAMPLES = 200
LEVEL = 0.95


class _WeightedAuc:
    """AUC of one score column under any row weights, from a single sort."""

    def __init__(self, y: np.ndarray, scores: FloatArray) -> None:
        order = np.argsort(scores, kind="stable")
        _, self._group = np.unique(scores[order], return_inverse=True)  # tie groups, ascending
        self._order = order
        self._positive = (y[order] == 1).astype(np.float64)

    def __call__(self, weights: FloatArray) -> float:
        w = weights[self._order]
        pos = np.bincount(self._group, weights=w * self._positive)
        neg = np.bincount(self._group, weights=w * (1.0 - self._positive))
        below = np.cumsum(neg) - neg  # negatives scored lower than each tie group
        total = pos.sum() * neg.sum()
        return float((pos * (below + 0.5 * neg)).sum() / total) if total > 0 else float("nan")


def margin_intervals(
    y: np.ndarray,
    model: FloatArray,
    baselines: dict[str, FloatArray],
    owners: np.ndarray,
    gains: FloatArray | None = None,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Per metric (AUC; NDCG@10 when gains are given): the best baseline, the margin,
    and its bootstrap interval over owners."""
    names, owner_of = np.unique(owners, return_inverse=True)
    draws = (
        np.random.default_rng(seed)
        .multinomial(len(names), np.full(len(names), 1.0 / len(names)), size=resamples)
        .astype(np.float64)
    )  # (resamples, owners): times each owner was drawn
    result: dict[str, dict[str, Any]] = {}
    aucs, reversed_ = _baseline_aucs(y, model, baselines)
    ones = np.ones(len(y))
    best = max(baselines, key=lambda n: aucs[n](ones))
    margins = [aucs["model"](d[owner_of]) - aucs[best](d[owner_of]) for d in draws]
    result["auc"] = _interval(best, aucs["model"](ones) - aucs[best](ones), margins, resamples)
    result["auc"]["reversed"] = best in reversed_
    if gains is not None:
        per_owner = {"model": ndcg_per_owner(owner_of, model, gains)}
        per_owner |= {n: ndcg_per_owner(owner_of, s, gains) for n, s in baselines.items()}
        best = max(baselines, key=lambda n: float(np.nanmean(per_owner[n])))
        diff = per_owner["model"] - per_owner[best]  # NaN for owners without a positive
        counted = ~np.isnan(diff)
        weights = draws[:, counted]
        margins = list((weights @ diff[counted]) / weights.sum(axis=1))
        result["ndcg_at_10"] = _interval(best, float(diff[counted].mean()), margins, resamples)
    return result


def _baseline_aucs(
    y: np.ndarray, model: FloatArray, baselines: dict[str, FloatArray]
) -> tuple[dict[str, _WeightedAuc], set[str]]:
    """AUC functions of the model and every baseline; a baseline whose AUC on the whole
    window is below 0.5 is counted reversed (its reverse is the signal), and named."""
    aucs = {"model": _WeightedAuc(y, model)}
    reversed_: set[str] = set()
    ones = np.ones(len(y))
    for name, scores in baselines.items():
        aucs[name] = _WeightedAuc(y, scores)
        if aucs[name](ones) < 0.5:
            aucs[name] = _WeightedAuc(y, -scores)
            reversed_.add(name)
    return aucs, reversed_


def _interval(baseline: str, margin: float, margins: list[float], resamples: int) -> dict[str, Any]:
    tail = (1.0 - LEVEL) / 2.0 * 100.0
    low, high = np.nanpercentile(margins, [tail, 100.0 - tail])
    return {
        "baseline": baseline,
        "margin": margin,
        "low": float(low),
        "high": float(high),
        "level": LEVEL,
        "resamples": resamples,
    }
