"""`refined`: labels adjust the shipped model's log-odds rather than replace them."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr  # type: ignore[import-untyped]

from scoring_service.model.signals import SHIPPED
from vinculo_apps.training import refined


def _columns(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    shipped_logit = rng.normal(size=n)
    other = rng.normal(size=n)
    return {SHIPPED: shipped_logit, "other": other}, rng


def test_few_uninformative_labels_leave_the_shipped_order_nearly_as_it_is() -> None:
    columns, rng = _columns(30, 0)
    y = (rng.random(30) < 0.5).astype(np.int64)  # labels that say nothing
    everything = np.ones(30, dtype=bool)
    scores = refined.fitter(columns, y)(everything)(everything)
    rho = spearmanr(scores, columns[SHIPPED]).statistic
    assert rho > 0.9  # adjusted, not replaced


def test_many_labels_from_another_signal_move_the_score_towards_it() -> None:
    columns, rng = _columns(4000, 1)
    y = (columns["other"] + 0.3 * rng.normal(size=4000) > 0).astype(np.int64)
    spec = refined.refined_model(columns, y, base=object())
    assert spec["signals"] == [SHIPPED, "other"] and spec["coef"][0] == 1.0
    assert spec["coef"][1] > 3.0  # the labels' signal now outweighs the shipped log-odds


def test_the_served_form_scores_as_the_fitted_candidate() -> None:
    columns, _ = _columns(200, 2)
    y = (columns["other"] + columns[SHIPPED] > 0).astype(np.int64)
    rows = np.ones(200, dtype=bool)
    fitted = refined.fitter(columns, y)(rows)(rows)
    spec = refined.refined_model(columns, y, base=object())
    x = np.column_stack([columns[n] for n in spec["signals"]])
    z = ((x - np.array(spec["mean"])) / np.array(spec["std"])) @ np.array(spec["coef"])
    assert np.allclose(1.0 / (1.0 + np.exp(-(z + spec["intercept"]))), fitted)
