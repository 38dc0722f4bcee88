"""`refined`: the shipped model's score adjusted by labels, not replaced (issue 15.3).

A logistic regression whose log-odds start at the shipped model's own
(`SHIPPED` enters as an offset with weight 1, unpenalised) and add the other
signals, standardised, with an L2 penalty (`C`, as scikit-learn's) plus a free
intercept. With no labels it is the shipped model; with tens of labels the
penalty keeps the adjustment small; with thousands the signals can outweigh it.
It is served as a signal model (`scoring_service.model.signals`) whose shipped
column has weight 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import minimize  # type: ignore[import-untyped]

from scoring_service.features.state import FloatArray
from scoring_service.model.signals import SHIPPED, spec

C = 0.1  # a prior worth about ten labelled pairs per unit of weight: tens adjust, thousands decide


def _fit(
    x: FloatArray, offset: FloatArray, y: np.ndarray
) -> tuple[FloatArray, FloatArray, FloatArray, float]:
    """(mean, std, weights, intercept) minimising log-loss + |w|^2 / (2C)."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / std
    sign = 2.0 * y - 1.0

    def loss(theta: FloatArray) -> tuple[float, FloatArray]:
        w, b = theta[:-1], theta[-1]
        margin = sign * (offset + z @ w + b)
        value = float(np.logaddexp(0.0, -margin).sum() + w @ w / (2.0 * C))
        slope = -sign / (1.0 + np.exp(margin))  # d loss / d logit
        grad = np.append(z.T @ slope + w / C, slope.sum())
        return value, grad

    theta = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B").x
    return mean, std, theta[:-1], float(theta[-1])


def _split(columns: dict[str, FloatArray]) -> tuple[list[str], FloatArray, FloatArray]:
    others = [n for n in columns if n != SHIPPED]
    return others, np.column_stack([columns[n] for n in others]), columns[SHIPPED]


def fitter(
    columns: dict[str, FloatArray], y: np.ndarray
) -> Callable[[np.ndarray], Callable[[np.ndarray], FloatArray]]:
    """The nested choice's candidate: fits on a row mask, scores any other."""
    _, x, offset = _split(columns)

    def fit(train: np.ndarray) -> Callable[[np.ndarray], FloatArray]:
        mean, std, w, b = _fit(x[train], offset[train], y[train])

        def score(rows: np.ndarray) -> FloatArray:
            logit = offset[rows] + ((x[rows] - mean) / std) @ w + b
            p: FloatArray = 1.0 / (1.0 + np.exp(-logit))
            return p

        return score

    return fit


def refined_model(columns: dict[str, FloatArray], y: np.ndarray, base: Any) -> dict[str, Any]:
    """The served form, fitted on every row: the shipped column first, weight 1."""
    names, x, offset = _split(columns)
    mean, std, w, b = _fit(x, offset, y)
    return spec(
        [SHIPPED, *names],
        np.append(0.0, mean),
        np.append(1.0, std),
        np.append(1.0, w),
        b,
        base,
        kind="refined",
    )
