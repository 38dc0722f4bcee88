"""Can a labels model beat the best single signal by +0.02? The attempts, measured.

    python -m vinculo_apps.training.label_attempts --events FILE... --labels FILE [--seeds 2]

Issue 15's target: on a labelled set, the labels model's AUC is at least the best
single signal's + 0.02, with the interval's lower end above 0. Each attempt below
is a set of columns (log counts and seconds, as `signals.scaled` reads them) fitted
by an L2 logistic regression in outer folds grouped by person
(`candidates._folds_of`: fitted where neither person is in the fold, scored on the
fold owner's rows), or a fixed score with nothing fitted. Printed per attempt:

- the pooled out-of-fold AUC (every seed) and its margin over the best single
  signal with the bootstrap interval over people (`intervals.margin_intervals`,
  seed 0), as `vinculo evaluate --labels` reports a labels model;
- the paired per-fold margin: the attempt's AUC minus the best signal's on the same
  fold rows, mean and spread over folds and seeds. Pooling puts each fold's model on
  its own probability scale, which costs a one-column refit of the best signal
  itself 0.006 on High School friendship; this margin does not pay that cost.

No choice is made here and nothing is tuned: every attempt and its columns are
fixed in this module before its runs (docs/experiments/2026-12-05-model.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from scoring_service.features.features import COLUMN, feature_matrix
from scoring_service.features.state import FloatArray
from scoring_service.model.artifact import load_default_model
from scoring_service.model.signals import raw_signals, scaled
from vinculo_apps.training.candidates import _folds_of
from vinculo_apps.training.dataset import EventLog
from vinculo_apps.training.evaluation import auc
from vinculo_apps.training.intervals import margin_intervals
from vinculo_apps.training.pipeline import labelled_rows, snapshot_context

Keys = list[tuple[str, str]]


def fitted(
    y: np.ndarray, keys: Keys, x: FloatArray, best: FloatArray, folds: int, seed: int, c: float
) -> tuple[FloatArray, list[float]]:
    """Out-of-fold probabilities of an L2 logistic regression on `x` (standardised on
    each fold's fitting rows), and each fold's AUC margin over `best` on its rows."""
    people = sorted({p for k in keys for p in k})
    owner, contact = _folds_of(keys, people, folds, seed)
    scores = np.zeros(len(y))
    margins = []
    for f in range(folds):
        train, test = (owner != f) & (contact != f), owner == f
        mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-9
        model = LogisticRegression(C=c, max_iter=1000).fit((x[train] - mean) / std, y[train])
        scores[test] = model.predict_proba((x[test] - mean) / std)[:, 1]
        own, base = auc(y[test], scores[test]), auc(y[test], best[test])
        if own is not None and base is not None:
            margins.append(own - base)
    return scores, margins


def fixed_margins(
    y: np.ndarray, keys: Keys, score: FloatArray, best: FloatArray, folds: int, seed: int
) -> list[float]:
    """Per-fold AUC margins of a score nothing was fitted for."""
    people = sorted({p for k in keys for p in k})
    owner, _ = _folds_of(keys, people, folds, seed)
    found = []
    for f in range(folds):
        own, base = auc(y[owner == f], score[owner == f]), auc(y[owner == f], best[owner == f])
        if own is not None and base is not None:
            found.append(own - base)
    return found


def within_owner(keys: Keys, values: FloatArray) -> FloatArray:
    """log1p(value) minus its mean over the owner's contacts, averaged over the two views
    of the pair where both exist: how much more of it this tie has than the owner's
    usual tie (a sociable person's many long contacts count less each)."""
    owners = np.array([a for a, _ in keys])
    logs = np.log1p(np.maximum(values, 0.0))
    _, owner_of = np.unique(owners, return_inverse=True)
    means = np.bincount(owner_of, weights=logs) / np.bincount(owner_of)
    relative = logs - means[owner_of]
    index = {k: i for i, k in enumerate(keys)}
    other = np.array([index.get((b, a), i) for i, (a, b) in enumerate(keys)])
    result: FloatArray = (relative + relative[other]) / 2.0
    return result


def attempt_columns(
    states: FloatArray, as_of: float, context: FloatArray, shipped: FloatArray, best: str
) -> dict[str, list[FloatArray]]:
    """The fitted attempts: name -> columns (fixed before any run)."""
    raw = raw_signals(states, as_of)
    x = feature_matrix(states, as_of, context)
    seconds, meetings = raw["contact_seconds"], x[:, COLUMN["meetings"]]

    def log(values: FloatArray) -> FloatArray:
        return scaled("count", values, as_of)  # log1p of a non-negative amount

    duration = [
        log(seconds),
        log(meetings),
        log(x[:, COLUMN["active_days"]]),
        log(seconds / np.maximum(meetings, 1.0)),
    ]
    signals = [scaled(name, values, as_of) for name, values in raw.items()]
    return {
        "best signal, one-column fit": [scaled(best, raw[best], as_of)],
        "best signal + shipped score": [
            scaled(best, raw[best], as_of),
            scaled("shipped", shipped, as_of),
        ],
        "duration: seconds, meetings, days met, mean meeting": duration,
        "all signals + duration + shipped, C=0.1": [
            *signals,
            *duration,
            scaled("shipped", shipped, as_of),
        ],
    }


def run(
    events: list[Path], labels: Path, seeds: int, folds: int, out: Callable[[str], None] = print
) -> None:
    log = EventLog.read(events)
    as_of = log.span[1] + 1.0
    rows = labelled_rows(log, labels, as_of)
    states, keys, y = rows.snapshot.states, rows.snapshot.keys, rows.y
    context = snapshot_context(rows.snapshot)
    shipped = load_default_model().score(states, as_of, context)
    raw = raw_signals(states, as_of)
    aucs = {n: auc(y, v) or 0.5 for n, v in raw.items()}
    best = max(aucs, key=lambda n: max(aucs[n], 1.0 - aucs[n]))
    top = raw[best] if aucs[best] >= 0.5 else -raw[best]
    strength = max(aucs[best], 1.0 - aucs[best])
    out(f"{len(y)} rows, positive {y.mean():.3f}; best single signal {best} AUC {strength:.4f}")
    out(
        f"{'attempt':<52} {'pooled AUC per seed':<22} {'margin (95% interval)':<28} per-fold margin"
    )
    for name, columns in attempt_columns(states, as_of, context, shipped, best).items():
        c = 0.1 if "C=0.1" in name else 1.0
        runs = [fitted(y, keys, np.column_stack(columns), top, folds, s, c) for s in range(seeds)]
        _report(
            out,
            name,
            y,
            [r[0] for r in runs],
            [m for r in runs for m in r[1]],
            raw,
            rows.snapshot.owners,
        )
    for name, score in {
        "shipped model as is": shipped,
        "seconds relative to the owner's usual tie": within_owner(keys, raw["contact_seconds"]),
        "count relative to the owner's usual tie": within_owner(keys, raw["count"]),
    }.items():
        margins = [m for s in range(seeds) for m in fixed_margins(y, keys, score, top, folds, s)]
        _report(out, name + " (no fit)", y, [score], margins, raw, rows.snapshot.owners)


def _report(
    out: Callable[[str], None],
    name: str,
    y: np.ndarray,
    scores: list[FloatArray],
    margins: list[float],
    raw: dict[str, FloatArray],
    owners: np.ndarray,
) -> None:
    m = margin_intervals(y, scores[0], raw, owners)["auc"]
    pooled = " / ".join(f"{auc(y, s) or 0.5:.4f}" for s in scores)
    interval = f"{m['margin']:+.4f} ({m['low']:+.4f} to {m['high']:+.4f})"
    spread = f"{np.mean(margins):+.4f} (sd {np.std(margins):.4f}, n {len(margins)})"
    out(f"{name:<52} {pooled:<22} {interval:<28} {spread}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=Path, nargs="+", required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    run(list(args.events), args.labels, args.seeds, args.folds)


if __name__ == "__main__":
    main()
