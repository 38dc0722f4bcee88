"""Train and evaluate end to end: event log -> rows -> model -> metrics.

Future-interaction task (default, RealGraph-style, datasets/README.md): features
from events before a cut, label 1 when the pair interacts at all in the window
after it. Training uses earlier cuts (features before 30, 35, ... 60% of the
events, labels from the next 20%); evaluation the later one (features before 80%, labels
from 80% to the end), so nothing is tuned on the test window.

Labels task: features from events before `as_of`, labels from a file and/or the
owners' feedback; evaluated by person-grouped cross-validation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from scoring_service.features.features import FEATURE_SCHEMA_VERSION, model_input_columns
from scoring_service.features.owner_context import owner_context
from scoring_service.features.state import DAY, FloatArray
from scoring_service.model.artifact import ScoringModel, load_default_model
from vinculo_apps.training import candidates, training
from vinculo_apps.training.dataset import (
    EventLog,
    Pair,
    Snapshot,
    future_counts,
    future_labels,
    read_labels,
    snapshots,
    supervised_rows,
    unordered,
)
from vinculo_apps.training.evaluation import baseline_scores, compare, metrics
from vinculo_apps.training.intervals import margin_intervals

# Training cuts (fractions of the events) and the label window after each: all
# windows end by 80%, where the test features stop. Stacking cuts, as RealGraph
# does with daily snapshots, multiplies the rows; seven cuts 5% apart beat three
# 10% apart on the validation window (mean NDCG@10 +0.005, docs/model.md).
TRAIN_CUTS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
WINDOW = 0.2
TEST_CUT = 0.8
# Model selection (features, calibration) is decided on a validation window that
# ends where the test features start: train on the same cuts 20% earlier
# (10, 15, ... 40%; labels from the next 20%, all before 60%), validate on
# features before 60%, labels 60-80%.
VALIDATION_TRAIN_CUTS = tuple(round(c - 0.2, 2) for c in TRAIN_CUTS)
VALIDATION_CUT, VALIDATION_END = 0.6, 0.8
FUTURE_LABEL = (
    "1 when the pair interacts at all (either direction, any type) in the window after the "
    "cut, else 0; features use only events strictly before the cut"
)
LABELS_LABEL = (
    "label from the labels file (unordered pairs), else the owner's feedback "
    "(close/relationship = 1, acquaintance/not known = 0); features before --as-of"
)


@dataclass
class Rows:
    snapshot: Snapshot
    y: np.ndarray
    gains: np.ndarray
    groups: np.ndarray  # one id per unordered pair, prefixed by the data set
    recent: bool = False  # rows of the latest training cut: they may calibrate
    horizon_days: float = 0.0  # length of the label window (future task)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def future_rows(
    log: EventLog,
    cuts: Sequence[float],
    ends: Sequence[float],
    owners: set[str] | None = None,
    tag: str = "",
) -> list[Rows]:
    """Rows as of each cut time for pairs with an event before it, labelled from [cut, end)."""
    result = []
    for snapshot, end in zip(snapshots(log, cuts, owners), ends, strict=True):
        y, gains = future_labels(snapshot, future_counts(log, snapshot.as_of, end))
        horizon = (min(end, log.span[1]) - snapshot.as_of) / DAY  # the last window: to the end
        result.append(Rows(snapshot, y, gains, _pair_groups(snapshot, tag), False, horizon))
    return result


def training_rows(
    log: EventLog,
    owners: set[str] | None = None,
    tag: str = "",
    cuts: Sequence[float] = TRAIN_CUTS,
) -> list[Rows]:
    """Rows at each cut (default the earlier ones: 30-60% of the events), labels from the
    next `WINDOW`; the last cut's rows are the recent ones that may calibrate."""
    times = [log.quantile_time(c) for c in cuts]
    ends = [_end(log, c + WINDOW) for c in cuts]
    parts = future_rows(log, times, ends, owners, tag)
    parts[-1].recent = True
    return parts


def test_rows(
    log: EventLog, owners: set[str] | None = None, cut: float = TEST_CUT, end: float = 1.0
) -> Rows:
    """The later cut: features before 80% of the events, labels from 80% to the end
    (or the validation window: `cut`, `end`)."""
    return future_rows(log, [log.quantile_time(cut)], [_end(log, end)], owners)[0]


def _end(log: EventLog, fraction: float) -> float:
    return np.inf if fraction >= 1.0 - 1e-9 else log.quantile_time(fraction)


def _pair_groups(snapshot: Snapshot, tag: str) -> np.ndarray:
    return np.array([tag + "\x00".join(unordered(*k)) for k in snapshot.keys])


def snapshot_context(snapshot: Snapshot) -> np.ndarray:
    """`owner_context` of every row within its owner's network in the snapshot."""
    owners = snapshot.owners if snapshot.keys else None
    return owner_context(snapshot.states, snapshot.as_of, owners)


def model_inputs(rows: Rows, horizon: bool = False) -> np.ndarray:
    """The rows' model inputs, (n, F), built by the service's own row builder."""
    snap = rows.snapshot
    days = rows.horizon_days if horizon else None
    x: np.ndarray = model_input_columns(snap.states, snap.as_of, snapshot_context(snap), days).T
    return x


def fit_model(
    parts: list[Rows],
    metadata: dict[str, Any],
    version: str,
    serving_horizon_days: float | None = None,
    seed: int = 0,
) -> ScoringModel:
    """Fit on all parts; the last part of each data set (`recent`) may serve for calibration.

    `serving_horizon_days`: the model takes each row's label-window length as an
    input and the service scores at this length (the pooled default model).
    `seed`: the fit/calibration split and the trees' early-stopping split."""
    horizon = serving_horizon_days is not None
    x = np.vstack([model_inputs(r, horizon) for r in parts])
    y = np.concatenate([r.y for r in parts])
    groups = np.concatenate([r.groups for r in parts])
    recent = np.concatenate([np.full(len(r.y), r.recent) for r in parts])
    recent_rows = recent if recent.any() else None
    result = training.fit(x, y, groups, recent_rows, seed=seed, horizon=horizon)
    windows = [r.horizon_days for r in parts if r.horizon_days > 0]  # future task only
    if windows:  # what a score means in days: contact within windows this long
        metadata = {**metadata, "label_window_days": [min(windows), max(windows)]}
    if horizon:
        metadata = {**metadata, "horizon": {"serving_days": serving_horizon_days}}
    metadata = {
        **metadata,
        "family": result.family,
        "family_selection_auc": result.selection_auc,
        "calibration": result.calibration,
        "rows": len(y),
        "positive_rate": float(y.mean()),
        "feature_schema_version": FEATURE_SCHEMA_VERSION,
    }
    return ScoringModel(result.estimator, version, metadata)


def future_metadata(
    logs: dict[str, EventLog], cuts: Sequence[float] = TRAIN_CUTS
) -> dict[str, Any]:
    spans = {}
    for name, log in logs.items():
        spans[name] = {
            "start": _iso(log.span[0]),
            "label_end": _iso(min(_end(log, cuts[-1] + WINDOW), log.span[1])),
            "cuts": list(cuts),
            "window": WINDOW,
        }
    return {"task": "future", "label": FUTURE_LABEL, "training_span": spans}


def train_future(
    log: EventLog, version: str = "", name: str = "events", cuts: Sequence[float] = TRAIN_CUTS
) -> ScoringModel:
    parts = training_rows(log, cuts=cuts)
    end = min(_end(log, cuts[-1] + WINDOW), log.span[1])
    return fit_model(
        parts, future_metadata({name: log}, cuts), version or f"future-{_iso(end)[:10]}"
    )


def tie_scores(keys: list[Pair], scores: FloatArray) -> FloatArray:
    """Score of the tie: the mean of the two owners' views where both are tracked.

    The label of the future task belongs to the pair, while each directed score
    refuses to credit its owner's one-sided outreach; the other side sees that
    outreach as inbound, so the mean of both views scores the tie.
    """
    index = {key: i for i, key in enumerate(keys)}
    mirror = np.array([index.get((b, a), -1) for a, b in keys], dtype=np.int64)
    other = scores[np.maximum(mirror, 0)]
    return np.where(mirror >= 0, (scores + other) / 2.0, scores)


def evaluate_future(
    log: EventLog,
    model: ScoringModel | None = None,
    validation: bool = False,
    owner_sample: set[str] | None = None,
    seeds: int = 1,
) -> dict[str, Any]:
    """Train on the earlier cuts unless a model is given; always test on the later one.

    `validation`: the model-selection window instead (train on 10-40%, features
    before 60%, labels 60-80%); the test window is not read. `owner_sample`
    limits the owners (rows) to a subset of people, for time. `seeds` > 1 also
    fits with seeds 1.. and reports how much the model's metrics move with the
    fit's random splits (the table is seed 0's)."""
    trained = model is None
    train_cuts = VALIDATION_TRAIN_CUTS if validation else TRAIN_CUTS
    cut, end = (VALIDATION_CUT, VALIDATION_END) if validation else (TEST_CUT, 1.0)
    refits: list[ScoringModel] = []
    if model is None:
        parts = training_rows(log, owner_sample, cuts=train_cuts)
        meta = future_metadata({"events": log}, train_cuts)
        model, *refits = (fit_model(parts, meta, "evaluate", seed=s) for s in range(seeds))
    test = test_rows(log, owner_sample, cut, end)
    t_cut, states = test.snapshot.as_of, test.snapshot.states
    owners, keys = test.snapshot.owners, test.snapshot.keys
    # A model with a horizon input answers the test window's question: contact within its length.
    owner_view = model.score(states, t_cut, snapshot_context(test.snapshot), test.horizon_days)
    tie, base = tie_scores(keys, owner_view), baseline_scores(states, t_cut)
    result = compare(test.y, tie, states, t_cut, owners, test.gains, base)
    result["margins"] = margin_intervals(test.y, tie, base, owners, test.gains)
    result["model"].pop("accuracy", None)  # no ground-truth label in this task
    view = metrics(test.y, owner_view, owners, test.gains, probabilities=True)
    split = {
        "train": {"features_before": list(train_cuts), "label_window": WINDOW}
        if trained
        else {"model": model.version},
        "test": {"features_before": cut, "labels": [cut, end]},
        "window": "validation" if validation else "test",
        "test_cut_time": _iso(t_cut),
        "test_rows": len(test.y),
        "test_positive_rate": float(test.y.mean()),
        "rows": "directed (owner, contact); model scored per tie as the mean of both views",
        "model_family": model.metadata.get("family"),
        "owner_view": {k: v for k, v in view.items() if k in ("auc", "ndcg_at_10", "ece")},
    }
    if refits:
        split["fit_seeds"] = _seed_spread(test, result["model"], refits)
    if not trained and (warning := _seen_after(model, log, t_cut)):
        split["warning"] = warning
    return {"task": "future", "split": split, **result}


def _seed_spread(
    test: Rows, first: dict[str, Any], refits: list[ScoringModel]
) -> dict[str, list[float]]:
    """The tie-score metrics of seed 0 (`first`, already measured) and of the models
    refitted with seeds 1, 2, ... on the same test rows."""
    snap = test.snapshot
    context = snapshot_context(snap)
    spread = {name: [first[name]] for name in ("auc", "ndcg_at_10", "ece")}
    for model in refits:
        view = model.score(snap.states, snap.as_of, context, test.horizon_days)
        scored = metrics(test.y, tie_scores(snap.keys, view), snap.owners, test.gains, True)
        for name, values in spread.items():
            values.append(scored[name])
    return spread


def _seen_after(model: ScoringModel, log: EventLog, cut: float) -> str | None:
    """Why the numbers may not be a held-out test: the model learned from a log that
    starts where this one does (the same events, or more of them) with labels past the
    test cut. Logs that start elsewhere (the default model's other data sets) do not count.
    """
    start = _iso(log.span[0])
    spans = model.metadata.get("training_span", {}).values()
    ends = [s["label_end"] for s in spans if isinstance(s, dict) and s.get("start") == start]
    latest = max(ends, key=lambda end: datetime.fromisoformat(end).timestamp(), default=None)
    if latest is None or datetime.fromisoformat(latest).timestamp() <= cut:
        return None
    return (
        f"the model learned from a log that starts where this one does ({start}), with "
        f"labels up to {latest}, after this test window starts ({_iso(cut)}): this is not "
        "a held-out test (`vinculo train --holdout` keeps the last 20% of the events unseen)"
    )


def labelled_rows(log: EventLog, labels: Path, as_of: float, directed: bool = False) -> Rows:
    (snapshot,) = snapshots(log, [as_of])
    file_labels = read_labels(labels, snapshot.keys, directed)
    rows, y = supervised_rows(snapshot, file_labels, directed)
    return Rows(rows, y, np.zeros(len(y)), _pair_groups(rows, ""))


def train_labels(
    log: EventLog, labels: Path, as_of: float, version: str = "", directed: bool = False
) -> ScoringModel:
    """The boosted trees on every label (`no_regret.train_labels` chooses among more)."""
    rows = labelled_rows(log, labels, as_of, directed)
    rows.recent = True
    return fit_model([rows], labels_metadata(log, labels, as_of), labels_version(as_of, version))


def labels_metadata(log: EventLog, labels: Path, as_of: float) -> dict[str, Any]:
    return {
        "task": "labels",
        "label": LABELS_LABEL,
        "labels_file": labels.name,
        "labels_sha256": _sha256(labels),
        "training_span": {"start": _iso(log.span[0]), "as_of": _iso(as_of)},
    }


def labels_version(as_of: float, version: str = "") -> str:
    return version or f"labels-{_iso(as_of)[:10]}"


def evaluate_labels(
    log: EventLog,
    labels: Path,
    as_of: float,
    model: ScoringModel | None = None,
    folds: int = 5,
    directed: bool = False,
    seeds: int = 1,
) -> dict[str, Any]:
    """Nested person-grouped cross-validation (`candidates`): people are dealt into folds;
    a fold's rows are those its people own, and the candidate chosen on inner folds of
    the rest is trained only on rows where neither person belongs to the fold, so no
    person is on both sides. With `model`, it is only scored. `seeds`: deal the people
    again with seeds 1..N-1 and report each deal's metrics."""
    rows = labelled_rows(log, labels, as_of, directed)
    states = rows.snapshot.states
    scores = np.zeros(len(rows.y))
    chosen: list[str] = []
    spread: dict[str, list[float]] = {}
    context = snapshot_context(rows.snapshot)  # each owner's labelled rows
    if model is not None:
        scores = model.score(states, as_of, context)
    else:
        scores, chosen, spread = _nested(rows, context, as_of, folds, seeds)
    base = baseline_scores(states, as_of)
    result = compare(rows.y, scores, states, as_of, base=base)
    result["margins"] = margin_intervals(rows.y, scores, base, rows.snapshot.owners)
    split = {
        "as_of": _iso(as_of),
        "rows": len(rows.y),
        "positive_rate": float(rows.y.mean()),
        "cross_validation": None
        if model is not None
        else {"folds": folds, "grouped_by": "person", "chosen_per_fold": chosen},
        "model": model.version if model is not None else "trained per fold",
    }
    if model is not None and model.metadata.get("labels_sha256") == _sha256(labels):
        split["warning"] = (
            f"the model was trained on this labels file ({labels.name}, same contents): this "
            "is not a held-out test (without --model, evaluate cross-validates by person)"
        )
    if spread:
        split["fit_seeds"] = spread
    if model is not None and model.metadata.get("task") != "labels":
        result["model"]["ece_note"] = (
            f"this model predicts something else ({model.metadata.get('task')} task: "
            f"{model.metadata.get('label')}), so its ECE on these labels measures that gap, "
            "not miscalibration"
        )
    return {"task": "labels", "split": split, **result}


def boosted_fitter(rows: Rows, context: FloatArray) -> candidates.Fitter:
    """The boosted trees as a nested-choice candidate: fitted on a mask of `rows`."""
    states, y, as_of = rows.snapshot.states, rows.y, rows.snapshot.as_of

    def fit_boosted(train: np.ndarray) -> Callable[[np.ndarray], FloatArray]:
        keys = [k for k, t in zip(rows.snapshot.keys, train, strict=True) if t]
        part = Rows(
            Snapshot(keys, states[train], as_of), y[train], rows.gains[train], rows.groups[train]
        )
        fitted = fit_model([part], {}, "cv")
        return lambda test: fitted.score(states[test], as_of, context[test])

    return fit_boosted


def _nested(
    rows: Rows, context: FloatArray, as_of: float, folds: int, seeds: int
) -> tuple[FloatArray, list[str], dict[str, list[float]]]:
    """Nested CV scores and choices of seed 0, and the AUC and ECE of every seed's deal."""
    states, y = rows.snapshot.states, rows.y
    shipped = load_default_model().score(states, as_of, context)
    found = candidates.candidates(
        y, candidates.signals(states, as_of, shipped), boosted_fitter(rows, context)
    )
    runs = [candidates.nested_scores(y, rows.snapshot.keys, found, folds, s) for s in range(seeds)]
    per_seed = [metrics(y, scores, probabilities=True) for scores, _ in runs]
    spread = {m: [float(r[m]) for r in per_seed] for m in ("auc", "ece")} if seeds > 1 else {}
    return runs[0][0], runs[0][1], spread


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
