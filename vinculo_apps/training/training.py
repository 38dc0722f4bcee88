"""Fit, choose and calibrate the classifier behind `ScoringModel`.

Rows are split by group (the unordered pair, so a pair's two directions never
sit on both sides) into fit rows and held-out rows. Both candidate families are
fitted on the first; the family is chosen on the held-out rows by ROC AUC
(evidence, not taste); the chosen model is calibrated on the same held-out rows
with `CalibratedClassifierCV` around the frozen fitted model (Platt scaling), so
calibration never sees fit data. Platt scaling is strictly increasing, so it
keeps the ranking the family was chosen on; isotonic calibration was measured
too and lost up to 0.03 NDCG@10 to the ties its steps create (docs/model.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from scoring_service.features.features import model_inputs_of, monotonic_constraints
from scoring_service.model.errors import ModelInputError

FAMILIES = ("hist_gradient_boosting", "logistic_regression")
CALIBRATION_SHARE = 0.25


@dataclass
class FitResult:
    estimator: CalibratedClassifierCV
    family: str
    selection_auc: dict[str, float]
    calibration: dict[str, Any] = field(default_factory=dict)


def hist_gradient_boosting(seed: int = 0, horizon: bool = False) -> HistGradientBoostingClassifier:
    # Few shallow trees: 25 trees of depth 3 were as accurate on held-out rows of
    # the training cuts as 50 (within 0.001 AUC) and as 150 trees of 15 leaves,
    # and are several times cheaper to score (docs/model.md).
    return HistGradientBoostingClassifier(
        max_iter=25,
        learning_rate=0.35,
        max_depth=3,
        max_leaf_nodes=8,
        min_samples_leaf=40,
        l2_regularization=1.0,
        monotonic_cst=monotonic_constraints(horizon),
        early_stopping=True,
        validation_fraction=0.15,
        n_iter_no_change=10,
        random_state=seed,
    )


def logistic_regression() -> Pipeline:
    # Counts are heavy-tailed: log1p makes a linear score saturate like strength does.
    return make_pipeline(
        FunctionTransformer(np.log1p),
        StandardScaler(),
        LogisticRegression(C=1.0, max_iter=2000),
    )


def _project_signs(pipeline: Pipeline, horizon: bool) -> None:
    """Zero every coefficient whose sign breaks its monotonic constraint.

    Logistic regression cannot take constraints; after this projection it acts
    in the documented direction on every column (log1p and scaling are increasing).
    """
    model: LogisticRegression = pipeline[-1]
    signs = np.array(monotonic_constraints(horizon), dtype=np.float64)
    wrong = model.coef_[0] * signs < 0
    model.coef_[0, wrong] = 0.0


def _holdout(groups: np.ndarray, recent: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit rows and calibration rows, disjoint by group; calibration only from `recent` rows
    (the latest cut, closest to the conditions the model will serve in)."""
    recent_idx = np.flatnonzero(recent)
    split = GroupShuffleSplit(n_splits=1, test_size=CALIBRATION_SHARE, random_state=seed)
    _, cal = next(split.split(recent_idx, groups=groups[recent_idx]))
    cal_idx = recent_idx[cal]
    fit_mask = ~np.isin(groups, groups[cal_idx])
    return np.flatnonzero(fit_mask), cal_idx


_TOO_LITTLE = "too little data to train a model: "


def _require_both_classes(y: np.ndarray, rows: str) -> None:
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        raise ModelInputError(
            f"{_TOO_LITTLE}{rows} are {len(y)} rows, {positives} of them labelled 1; "
            "a model needs rows of both outcomes"
        )


def fit(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    recent: np.ndarray | None = None,
    families: tuple[str, ...] = FAMILIES,
    seed: int = 0,
    horizon: bool = False,
) -> FitResult:
    """x: the `model_inputs_of(horizon)` columns; y: 0/1; groups: one id per unordered
    pair; recent: rows that may serve for calibration (default all)."""
    expected = len(model_inputs_of(horizon))
    if x.shape[1] != expected:
        raise ValueError(f"expected {expected} model columns, got {x.shape[1]}")
    recent = np.ones(len(y), dtype=bool) if recent is None else recent
    _require_both_classes(y, "the training rows")
    if len(np.unique(groups[recent])) < 2:
        raise ModelInputError(_TOO_LITTLE + "the latest window holds fewer than 2 pairs")
    fit_idx, cal_idx = _holdout(groups, recent, seed)
    _require_both_classes(y[fit_idx], "the fit rows")
    _require_both_classes(y[cal_idx], "the calibration rows (pairs held out of the latest window)")
    candidates: dict[str, Any] = {}
    aucs: dict[str, float] = {}
    for family in families:
        is_trees = family == FAMILIES[0]
        model = hist_gradient_boosting(seed, horizon) if is_trees else logistic_regression()
        model.fit(x[fit_idx], y[fit_idx])
        if not is_trees:
            _project_signs(model, horizon)
        candidates[family] = model
        # Ranking only: the sigmoid calibration fitted next is increasing, so
        # choosing the family on these rows does not tune the probabilities.
        aucs[family] = float(roc_auc_score(y[cal_idx], model.predict_proba(x[cal_idx])[:, 1]))
    best = max(aucs, key=lambda name: aucs[name])
    method = "sigmoid"
    calibrated = CalibratedClassifierCV(FrozenEstimator(candidates[best]), method=method)
    calibrated.fit(x[cal_idx], y[cal_idx])
    summary = {
        "method": method,
        "rows_fit": len(fit_idx),
        "rows_calibration": len(cal_idx),
        "positive_rate_calibration": float(y[cal_idx].mean()),
    }
    return FitResult(calibrated, best, aucs, summary)
