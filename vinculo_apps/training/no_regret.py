"""`vinculo train --labels`: the model a user's labels earn, never worse than one signal.

Candidates (`candidates.py`): every single signal, the shipped model's score among
them (each through a one-column logistic regression, so a backwards signal is
reversed and named `signal:<name>`), an L2 logistic regression on all of them
(`linear`), the shipped model's log-odds adjusted by the other signals under a
penalty (`refined`: tens of labels adjust the shipped model rather than replace
it), and the boosted trees (`boosted`).

1. Nested cross-validation grouped by person (`--folds` outer folds, 3 inner)
   gives out-of-fold scores of the choice as it would be made, and the margin of
   those over the best single signal on the same rows, with a bootstrap interval
   over people (`intervals.margin_intervals`; a signal below 0.5 AUC counts reversed).
2. The choice on all labels: inner folds over every row (`candidates.pick`).
3. No regret: when the nested margin over the best single signal is below 0, that
   signal ships instead of the choice; a combination (or another signal) ships only
   where the nested choice did at least as well out of fold.

A single signal, the linear or the refined model ships as a signal model
(`scoring_service.model.signals`), which the scoring service loads like any other.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from scoring_service.model.artifact import ScoringModel, load_default_model
from scoring_service.model.signals import SHIPPED, spec
from vinculo_apps.training import candidates, pipeline, refined
from vinculo_apps.training.dataset import EventLog
from vinculo_apps.training.evaluation import baseline_scores, metrics
from vinculo_apps.training.intervals import margin_intervals


def train_labels(
    log: EventLog,
    labels: Path,
    as_of: float,
    version: str = "",
    directed: bool = False,
    folds: int = 5,
    seeds: int = 1,
) -> ScoringModel:
    rows = pipeline.labelled_rows(log, labels, as_of, directed)
    rows.recent = True
    snap, y = rows.snapshot, rows.y
    context = pipeline.snapshot_context(snap)
    default = load_default_model()
    shipped = default.score(snap.states, as_of, context)
    columns = candidates.signals(snap.states, as_of, shipped)
    found = candidates.candidates(y, columns, pipeline.boosted_fitter(rows, context))
    runs = [candidates.nested_scores(y, snap.keys, found, folds, s) for s in range(seeds)]
    nested, per_fold = runs[0]
    singles = {**baseline_scores(snap.states, as_of), SHIPPED: shipped}
    margin = margin_intervals(y, nested, singles, snap.owners)["auc"]
    aucs = candidates.inner_aucs(y, snap.keys, np.ones(len(y), dtype=bool), found, 0)
    chosen = candidates.pick(aucs)
    ships = what_ships(chosen, margin)
    report = {
        "chosen": chosen,
        "ships": ships,
        "inner_auc": aucs,
        "nested": {
            "folds": folds,
            "chosen_per_fold": per_fold,
            "auc": [float(metrics(y, s, probabilities=True)["auc"]) for s, _ in runs],
            "margin_over_best_single_signal": margin,
        },
    }
    meta = {**pipeline.labels_metadata(log, labels, as_of), "no_regret": report}
    name = pipeline.labels_version(as_of, version)
    if ships == "boosted":
        return pipeline.fit_model([rows], meta, name)
    return _signal_artifact(ships, y, columns, default, meta, name, aucs)


def what_ships(chosen: str, margin: dict[str, Any]) -> str:
    """The choice, unless the nested choice's out-of-fold AUC fell below the best single
    signal's (`margin`: from `margin_intervals`): then that signal (the best on all
    labels; a choice among single signals can pick another on inner folds). The shipped
    model as is (too few labels to judge) stays: so few cannot name a better one."""
    if chosen == candidates.AS_SHIPPED or margin["margin"] >= 0:
        return chosen
    return f"signal:{margin['baseline']}"


def _signal_artifact(
    ships: str,
    y: np.ndarray,
    columns: dict[str, Any],
    default: ScoringModel,
    meta: dict[str, Any],
    version: str,
    aucs: dict[str, float],
) -> ScoringModel:
    """A single signal (`signal:<name>`), the linear or the refined model, fitted on
    every label."""
    names = [ships.removeprefix("signal:")] if ships.startswith("signal:") else list(columns)
    if ships == candidates.AS_SHIPPED:
        names = [SHIPPED]
    base = default.estimator if SHIPPED in names else None
    if ships == "refined":
        estimator = refined.refined_model(columns, y, base)
    elif ships == candidates.AS_SHIPPED:  # too few labels to judge: the shipped order as is
        estimator = spec([SHIPPED], np.zeros(1), np.ones(1), np.ones(1), 0.0, default.estimator)
    else:
        estimator = candidates.signal_model(y, columns, names, base)
    meta = {
        **meta,
        "family": ships,
        "family_selection_auc": aucs,
        "rows": len(y),
        "positive_rate": float(y.mean()),
        "feature_schema_version": default.feature_schema_version,
    }
    if base is not None and "horizon" in default.metadata:  # the shipped trees' own input
        meta["horizon"] = default.metadata["horizon"]
    return ScoringModel(estimator, version, meta)


def summary(model: ScoringModel) -> list[str]:
    """What `vinculo train --labels` prints about the choice."""
    report = model.metadata.get("no_regret")
    if not report:
        return []
    nested = report["nested"]
    m = nested["margin_over_best_single_signal"]
    signal = m["baseline"] + (", reversed" if m.get("reversed") else "")
    lines = [
        f"chosen on all labels: {report['chosen']} (inner AUC "
        + ", ".join(f"{k} {v:.3f}" for k, v in report["inner_auc"].items())
        + ")",
        f"nested {nested['folds']}-fold choice per fold: {', '.join(nested['chosen_per_fold'])}",
        f"nested choice - best single signal ({signal}), auc: {m['margin']:+.4f} "
        f"(95% interval {m['low']:+.4f} to {m['high']:+.4f} over people)",
    ]
    if len(nested["auc"]) > 1:
        aucs = nested["auc"]
        lines.append(
            f"nested AUC per seed: {', '.join(f'{a:.4f}' for a in aucs)} "
            f"(mean {np.mean(aucs):.4f}, range {max(aucs) - min(aucs):.4f})"
        )
    if report["ships"] != report["chosen"]:
        lines.append(
            f"ships {report['ships']}: the nested choice did worse out of fold than this signal"
        )
    return lines


def print_summary(model: ScoringModel) -> None:
    for line in summary(model):
        print(line, file=sys.stderr)
