"""Signal models (issue 15): what `train --labels` ships when one signal or the linear mix
wins, saved and loaded as any model, scoring the way training measured it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scoring_service.model.artifact import ScoringModel, load_default_model
from scoring_service.model.signals import SHIPPED, signal_columns
from tests.model import labelled_network
from vinculo_apps.training import candidates, no_regret, pipeline, refined
from vinculo_apps.training.dataset import EventLog

# One worker runs this module: its shared fixtures are built once (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("model-signal")


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> pipeline.Rows:
    network = labelled_network.write(tmp_path_factory.mktemp("labelled"), people=20, ties=120)
    log = EventLog.read([network.events], "auto")
    return pipeline.labelled_rows(log, network.labels, log.span[1] + 1.0)


def _saved(model: ScoringModel, path: Path) -> ScoringModel:
    model.save(path)
    return ScoringModel.load(path)


def test_a_refit_shipped_score_keeps_the_shipped_order_and_survives_saving(
    rows: pipeline.Rows, tmp_path: Path
) -> None:
    snap, default = rows.snapshot, load_default_model()
    context = pipeline.snapshot_context(snap)
    shipped = default.score(snap.states, snap.as_of, context)
    columns = signal_columns(snap.states, snap.as_of, shipped)
    spec = candidates.signal_model(rows.y, columns, [SHIPPED], default.estimator)
    meta = {"horizon": default.metadata["horizon"]}
    model = _saved(ScoringModel(spec, "shipped-refit", meta), tmp_path / "m.skops")
    served = model.score(snap.states, snap.as_of, context)
    # One input through a logistic: an increasing (or, fitted backwards, decreasing) map.
    z = spec["coef"][0] * (columns[SHIPPED] - spec["mean"][0]) / spec["std"][0]
    assert np.allclose(served, 1.0 / (1.0 + np.exp(-(z + spec["intercept"]))))
    order = np.argsort(shipped, kind="stable")
    assert np.all(np.diff(served[order]) * np.sign(spec["coef"][0]) >= -1e-12)


def test_the_linear_mix_reads_every_signal_and_explains_without_feature_columns(
    rows: pipeline.Rows, tmp_path: Path
) -> None:
    snap, default = rows.snapshot, load_default_model()
    context = pipeline.snapshot_context(snap)
    columns = signal_columns(snap.states, snap.as_of, default.score(snap.states, snap.as_of))
    spec = candidates.signal_model(rows.y, columns, list(columns), default.estimator)
    meta = {"horizon": default.metadata["horizon"]}
    model = _saved(ScoringModel(spec, "linear", meta), tmp_path / "linear.skops")
    assert model.signal_model is not None and model.signal_model["signals"] == list(columns)
    words = model.explain(snap.states[:5], snap.as_of, context[:5])
    led_by = "scored by a mix your labels chose, led by time spent together on calls and in person"
    assert all(led_by in w for w in words)  # the truth of this network leads the mix
    with pytest.raises(TypeError):
        model.score_features(np.zeros((3, 10)))


def test_a_combination_that_lost_out_of_fold_gives_way_to_the_single_signal() -> None:
    below = {"baseline": "count", "margin": -0.004, "low": -0.01, "high": 0.002}
    assert no_regret.what_ships("boosted", below) == "signal:count"
    assert no_regret.what_ships("linear", below) == "signal:count"
    assert no_regret.what_ships("signal:recency", below) == "signal:count"  # the best one
    assert no_regret.what_ships("shipped", below) == "shipped"  # too few labels to judge
    level = {**below, "margin": 0.0}
    assert no_regret.what_ships("linear", level) == "linear"
    assert no_regret.what_ships("signal:recency", level) == "signal:recency"


def test_the_refined_model_is_served_as_the_shipped_model_adjusted(
    rows: pipeline.Rows, tmp_path: Path
) -> None:
    snap, default = rows.snapshot, load_default_model()
    context = pipeline.snapshot_context(snap)
    shipped = default.score(snap.states, snap.as_of, context)
    columns = signal_columns(snap.states, snap.as_of, shipped)
    spec = refined.refined_model(columns, rows.y, default.estimator)
    meta = {"horizon": default.metadata["horizon"]}
    model = _saved(ScoringModel(spec, "refined", meta), tmp_path / "refined.skops")
    assert model.signal_model is not None and model.signal_model["kind"] == "refined"
    served = model.score(snap.states, snap.as_of, context)
    x = np.column_stack([columns[n] for n in spec["signals"]])
    z = ((x - np.array(spec["mean"])) / np.array(spec["std"])) @ np.array(spec["coef"])
    assert np.allclose(served, 1.0 / (1.0 + np.exp(-(z + spec["intercept"]))))
    words = model.explain(snap.states[:3], snap.as_of, context[:3])
    assert all("scored by the shipped model, adjusted by your labels" in w for w in words)
