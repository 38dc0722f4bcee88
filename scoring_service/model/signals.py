"""Models that score by named single signals (issue 15, no-regret training on labels).

`vinculo train --labels` ships one of these when, on the owner's labels, one signal
(or a regularised linear mix of the signals, the shipped model's score among them)
did at least as well out of fold as the boosted trees. The artifact stays a
`ScoringModel`; its estimator is a plain dict (`SIGNAL_MODEL` spec) of the signal
names, their standardisation and a logistic regression's coefficients, plus, when
the shipped model's score is an input (`SHIPPED`), the shipped model's estimator
itself. Only trusted types are stored, so `ScoringModel.load` reads it like any other.

The signals are the single-signal baselines of evaluation (count, recency, decayed
counts, reciprocity, seconds of calls and meetings) on the scale a logistic
regression can use: log counts, minus days since the last interaction, the shipped
score's log-odds. Training (`vinculo_apps/training/candidates.py`) and serving read
them through the same functions here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from scoring_service.features.state import (
    DAY,
    HALF_LIVES_DAYS,
    IN,
    N_KINDS,
    OUT,
    TOTALS_SIZE,
    TOTALS_START,
    FloatArray,
    S,
    decayed_counts,
)

SIGNAL_MODEL = "vinculo-signal-model/1"
BASELINES = ("count", "recency", "decay_7d", "decay_30d", "reciprocity", "contact_seconds")
SHIPPED = "shipped"
NEVER_DAYS = 3650.0
# What each signal is, in words, for explanations and the training summary.
DESCRIPTIONS = {
    "count": "how many interactions there were",
    "recency": "how recently you were in touch",
    "decay_7d": "how much you were in touch in the last week or so",
    "decay_30d": "how much you were in touch in the last month or so",
    "reciprocity": "how much went both ways",
    "contact_seconds": "time spent together on calls and in person",
    SHIPPED: "the shipped model's score",
}


def raw_signals(states: FloatArray, as_of: float) -> dict[str, FloatArray]:
    """Each baseline signal as it is: higher means a stronger tie, except `recency`
    (the last interaction's unix time: later ranks higher)."""
    totals = states[:, TOTALS_START : TOTALS_START + TOTALS_SIZE].reshape(-1, N_KINDS, 3)
    decayed = decayed_counts(states, as_of).sum(axis=1)  # (n, dirs, horizons)
    out = (totals[:, :, 0] + totals[:, :, 2]).sum(axis=1)
    inbound = (totals[:, :, 1] + totals[:, :, 2]).sum(axis=1)
    week, month = HALF_LIVES_DAYS.index(7.0), HALF_LIVES_DAYS.index(30.0)
    return {
        "count": states[:, S["EVENT_COUNT"]],
        "recency": states[:, S["LAST_TIME"]],
        "decay_7d": decayed[:, OUT, week] + decayed[:, IN, week],
        "decay_30d": decayed[:, OUT, month] + decayed[:, IN, month],
        "reciprocity": np.minimum(out, inbound),
        "contact_seconds": states[:, S["CALL_SECONDS"]] + states[:, S["MEETING_SECONDS"]],
    }


def scaled(name: str, raw: FloatArray, as_of: float) -> FloatArray:
    """One signal on a logistic regression's scale: log1p of a count, minus the days
    since the last interaction (capped at ten years), the log-odds of a score."""
    if name == "recency":
        days = np.where(raw > 0, (as_of - raw) / DAY, NEVER_DAYS)
        return -np.minimum(days, NEVER_DAYS)
    if name == SHIPPED:
        p = np.clip(raw, 1e-6, 1.0 - 1e-6)
        return np.log(p / (1.0 - p))
    return np.log1p(np.maximum(raw, 0.0))


def signal_columns(
    states: FloatArray, as_of: float, shipped: FloatArray | None
) -> dict[str, FloatArray]:
    """Every signal, scaled; `SHIPPED` only when the shipped model's scores are given."""
    raw = raw_signals(states, as_of)
    columns = {name: scaled(name, raw[name], as_of) for name in BASELINES}
    if shipped is not None:
        columns[SHIPPED] = scaled(SHIPPED, shipped, as_of)
    return columns


def spec(
    names: list[str],
    mean: FloatArray,
    std: FloatArray,
    coef: FloatArray,
    intercept: float,
    base: Any = None,
    kind: str = "",
) -> dict[str, Any]:
    """The estimator of a signal model: p = sigmoid(coef . (x - mean) / std + intercept).
    `kind`: "signal" (one name), "linear" or "refined" (the shipped score, weight 1,
    adjusted by the others); by default "signal" or "linear" by the number of names."""
    found: dict[str, Any] = {
        "format": SIGNAL_MODEL,
        "kind": kind or ("signal" if len(names) == 1 else "linear"),
        "signals": list(names),
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "coef": [float(v) for v in coef],
        "intercept": float(intercept),
    }
    if SHIPPED in names:
        if base is None:
            raise ValueError("a signal model reading the shipped score needs the shipped estimator")
        found["base"] = base
    return found


def is_signal_model(estimator: Any) -> bool:
    return isinstance(estimator, dict) and estimator.get("format") == SIGNAL_MODEL


def predict_signals(
    model: dict[str, Any],
    states: FloatArray,
    as_of: float,
    base_scores: Callable[[], FloatArray],
) -> FloatArray:
    """Probabilities of a signal model for `states`; `base_scores` gives the shipped
    model's scores of the same rows (called only when the model reads them)."""
    names: list[str] = model["signals"]
    raw = raw_signals(states, as_of)
    if SHIPPED in names:
        raw[SHIPPED] = base_scores()
    x = np.column_stack([scaled(n, raw[n], as_of) for n in names])
    z = ((x - np.array(model["mean"])) / np.array(model["std"])) @ np.array(model["coef"])
    result: FloatArray = 1.0 / (1.0 + np.exp(-(z + model["intercept"])))
    return result


def weights(model: dict[str, Any]) -> dict[str, float]:
    """Each signal's coefficient on the standardised scale, strongest first."""
    pairs = sorted(zip(model["signals"], model["coef"], strict=True), key=lambda p: -abs(p[1]))
    return {name: float(coef) for name, coef in pairs}
