"""No-regret model choice for the labels task (issue 15): nested cross-validation.

Candidates, each fitted on training rows only and giving probabilities:
- `signal:<name>`: one single signal (a baseline of `evaluation.BASELINES`, or
  `shipped`, the shipped model's score), through a one-column logistic regression,
  so it is calibrated and, where it runs backwards, reversed;
- `linear`: an L2-regularised logistic regression on all of those signals, the
  shipped score among them;
- `refined` (when the shipped score is a signal): the shipped model's log-odds as
  an offset, adjusted by the other signals under an L2 penalty (`refined.py`), so
  a few labels adjust the shipped model rather than replace it;
- `shipped`: the shipped model's scores as they are, nothing fitted: what `choose`
  falls back to when the labels hold too few of an outcome (`MIN_CLASS_ROWS`);
- `boosted`: the project's boosted trees on the full features (`fit_boosted`).

People are dealt into outer folds; a fold's rows are those its people own, and
everything is fitted on rows where neither person is in the fold. Inside each
outer training set, people are dealt again into `INNER_FOLDS` folds, and the
candidate with the best inner AUC (a combination only if it beats the best single
signal by `MARGIN`) is refitted on the whole outer training set
and scores the outer fold. The outer folds never take part in the choice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from scoring_service.features.state import FloatArray
from scoring_service.model.signals import SHIPPED, signal_columns, spec
from vinculo_apps.training import refined

INNER_FOLDS = 3
# A fitted combination is chosen over the best single signal only when its inner AUC
# is higher by this much: smaller gains are within the noise of a few hundred labels.
MARGIN = 0.01
# Fewer rows than this of the rarer outcome (five labelled pairs) cannot tell the
# candidates apart: with 25 or 50 High School pairs (one to three friendships) every
# choice lost to the shipped model on average, even a refit of its own score (a
# one-column fit on one or two positives can reverse it), while 100 pairs (about six
# friendships) won in 9 draws of 10. Below it the shipped model ships as is.
MIN_CLASS_ROWS = 10
AS_SHIPPED = "shipped"
# Fits on a training mask and returns a scorer of any row mask.
Fitter = Callable[[np.ndarray], Callable[[np.ndarray], FloatArray]]


def signals(states: FloatArray, as_of: float, shipped: FloatArray) -> dict[str, FloatArray]:
    """Single signals on a scale a logistic regression can use (log counts, days since,
    the shipped score's log-odds): the same functions a served signal model reads."""
    return signal_columns(states, as_of, shipped)


def _fit_logistic(
    x: FloatArray, y: np.ndarray
) -> tuple[FloatArray, FloatArray, LogisticRegression]:
    """Standardise the columns, then an L2 logistic regression: (mean, std, model)."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    return mean, std, LogisticRegression(C=1.0, max_iter=1000).fit((x - mean) / std, y)


def _logistic(x: FloatArray, y: np.ndarray) -> Fitter:
    def fit(train: np.ndarray) -> Callable[[np.ndarray], FloatArray]:
        mean, std, model = _fit_logistic(x[train], y[train])

        def score(rows: np.ndarray) -> FloatArray:
            p: FloatArray = model.predict_proba((x[rows] - mean) / std)[:, 1]
            return p

        return score

    return fit


def _as_is(logit: FloatArray) -> Fitter:
    """The shipped model's own scores, nothing fitted: no label can reverse them."""

    def fit(train: np.ndarray) -> Callable[[np.ndarray], FloatArray]:
        def score(rows: np.ndarray) -> FloatArray:
            p: FloatArray = 1.0 / (1.0 + np.exp(-logit[rows]))
            return p

        return score

    return fit


def signal_model(
    y: np.ndarray, columns: dict[str, FloatArray], names: list[str], base: Any = None
) -> dict[str, Any]:
    """The served form of `signal:<name>` (one name) or `linear` (all of them), fitted on
    every row: a `scoring_service.model.signals` spec (`base`: the shipped estimator)."""
    mean, std, model = _fit_logistic(np.column_stack([columns[n] for n in names]), y)
    return spec(names, mean, std, model.coef_[0], float(model.intercept_[0]), base)


def candidates(
    y: np.ndarray, columns: dict[str, FloatArray], fit_boosted: Fitter | None
) -> dict[str, Fitter]:
    """Every candidate's fitter (module docstring); the simplest first."""
    table = np.column_stack(list(columns.values()))
    found: dict[str, Fitter] = {
        f"signal:{name}": _logistic(column[:, None], y) for name, column in columns.items()
    }
    found["linear"] = _logistic(table, y)
    if SHIPPED in columns:
        found["refined"] = refined.fitter(columns, y)
        found[AS_SHIPPED] = _as_is(columns[SHIPPED])
    if fit_boosted is not None:
        found["boosted"] = fit_boosted
    return found


def _folds_of(
    keys: list[tuple[str, str]], people: list[str], folds: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's owner fold and contact fold (-1 for a person not dealt)."""
    fold_of = dict(
        zip(people, np.random.default_rng(seed).permutation(len(people)) % folds, strict=True)
    )
    owner = np.array([fold_of.get(a, -1) for a, _ in keys])
    contact = np.array([fold_of.get(b, -1) for _, b in keys])
    return owner, contact


def _auc(y: np.ndarray, scores: FloatArray) -> float:
    return float(roc_auc_score(y, scores)) if len(np.unique(y)) == 2 else 0.5


def inner_aucs(
    y: np.ndarray,
    keys: list[tuple[str, str]],
    train: np.ndarray,
    found: dict[str, Fitter],
    seed: int,
) -> dict[str, float]:
    """Each candidate's AUC over inner person-grouped folds of `train`."""
    people = sorted({p for k, t in zip(keys, train, strict=True) if t for p in k})
    owner, contact = _folds_of(keys, people, INNER_FOLDS, seed + 1)
    inner = {name: np.zeros(len(y)) for name in found}
    tested = np.zeros(len(y), dtype=bool)
    for f in range(INNER_FOLDS):
        fit_rows = train & (owner != f) & (contact != f)
        test_rows = train & (owner == f)
        if not fit_rows.any() or not test_rows.any() or len(np.unique(y[fit_rows])) < 2:
            continue
        tested |= test_rows
        for name, fit in found.items():
            inner[name][test_rows] = fit(fit_rows)(test_rows)
    return {name: _auc(y[tested], s[tested]) for name, s in inner.items()}


def pick(aucs: dict[str, float]) -> str:
    """The best candidate; a combination only if it beats the best single signal by MARGIN.
    The shipped model as is (`AS_SHIPPED`) is only the fallback of `choose`."""
    aucs = {name: value for name, value in aucs.items() if name != AS_SHIPPED}
    best = max(aucs, key=lambda name: aucs[name])  # first of the best: the simplest
    singles = [name for name in aucs if name.startswith("signal:")]
    if not singles:
        return best
    single = max(singles, key=lambda name: aucs[name])
    return best if aucs[best] > aucs[single] + MARGIN else single


def choose(
    y: np.ndarray,
    keys: list[tuple[str, str]],
    train: np.ndarray,
    found: dict[str, Fitter],
    seed: int,
) -> str:
    """The candidate with the best AUC over inner person-grouped folds of `train`; the
    shipped model's own score when the labels hold too few of either outcome to judge."""
    rarer = min(int(y[train].sum()), int((1 - y[train]).sum()))
    if rarer < MIN_CLASS_ROWS and AS_SHIPPED in found:
        return AS_SHIPPED
    return pick(inner_aucs(y, keys, train, found, seed))


def nested_scores(
    y: np.ndarray,
    keys: list[tuple[str, str]],
    found: dict[str, Fitter],
    folds: int,
    seed: int = 0,
) -> tuple[FloatArray, list[str]]:
    """Outer-fold scores of the candidate chosen inside each outer training set, and
    the names chosen per fold."""
    people = sorted({p for k in keys for p in k})
    owner, contact = _folds_of(keys, people, folds, seed)
    scores = np.zeros(len(y))
    chosen = []
    for f in range(folds):
        train = (owner != f) & (contact != f)
        test = owner == f
        name = choose(y, keys, train, found, seed)
        scores[test] = found[name](train)(test)
        chosen.append(name)
    return scores, chosen
