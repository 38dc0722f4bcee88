"""The compiled-forest cache: same numbers as the artifact, no scikit-learn at start,
a new entry for a changed artifact, a damaged or unwritable cache costs only time."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scoring_service.features.features import MODEL_FEATURES
from scoring_service.model.artifact import DEFAULT_MODEL_PATH, ScoringModel
from scoring_service.model.compiled_cache import cache_key, load_serving_model
from vinculo_apps.training import pipeline
from vinculo_apps.training.dataset import EventLog

# One worker runs this module: its shared fixtures are built once (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("model-compiled-cache")


def _saved(model: ScoringModel, path: Path) -> Path:
    model.save(path)
    return path


def test_a_cached_model_scores_tiers_and_explains_like_the_artifact(
    tmp_path: Path, slice_model: ScoringModel, college_slice: EventLog
) -> None:
    artifact = _saved(slice_model, tmp_path / "model.skops")
    cache = tmp_path / "cache"
    first = load_serving_model(artifact, cache)  # a miss: loads the artifact, writes the entry
    assert [p.name for p in cache.iterdir()] == [f"{cache_key(artifact)}.npz"]
    cached = load_serving_model(artifact, cache)
    assert cached.compiled is not None and first.compiled is not None
    assert cached._estimator is None  # served from the entry, the estimator not loaded

    test = pipeline.test_rows(college_slice)
    states, as_of = test.snapshot.states, test.snapshot.as_of
    expected = ScoringModel.load(artifact)
    scores = cached.score(states, as_of)
    np.testing.assert_array_equal(scores, expected.score(states, as_of))
    np.testing.assert_array_equal(cached.tiers(scores, states), expected.tiers(scores, states))
    assert cached.explain(states[:20], as_of) == expected.explain(states[:20], as_of)
    assert (cached.version, cached.metadata) == (expected.version, expected.metadata)
    assert cached.serving_horizon_days == expected.serving_horizon_days
    assert cached._estimator is None


def test_input_with_missing_values_loads_the_estimator_from_the_artifact(
    tmp_path: Path, slice_model: ScoringModel
) -> None:
    artifact = _saved(slice_model, tmp_path / "model.skops")
    load_serving_model(artifact, tmp_path / "cache")
    cached = load_serving_model(artifact, tmp_path / "cache")
    x = np.random.default_rng(1).random((5, len(MODEL_FEATURES)))
    x[0, 0] = np.nan  # fastpath cannot; scikit-learn's trees can
    expected = ScoringModel.load(artifact).score_features(x)
    np.testing.assert_array_equal(cached.score_features(x), expected)
    assert cached._estimator is not None


def test_a_changed_artifact_is_not_served_from_the_old_entry(
    tmp_path: Path, slice_model: ScoringModel
) -> None:
    artifact = _saved(slice_model, tmp_path / "model.skops")
    load_serving_model(artifact, tmp_path / "cache")
    ScoringModel(slice_model.estimator, "retrained", dict(slice_model.metadata)).save(artifact)
    assert load_serving_model(artifact, tmp_path / "cache").version == "retrained"
    assert load_serving_model(artifact, tmp_path / "cache").version == "retrained"
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_a_damaged_entry_is_named_then_replaced(
    tmp_path: Path, slice_model: ScoringModel, caplog: pytest.LogCaptureFixture
) -> None:
    artifact = _saved(slice_model, tmp_path / "model.skops")
    entry = tmp_path / "cache" / f"{cache_key(artifact)}.npz"
    entry.parent.mkdir()
    entry.write_bytes(b"not an npz")
    with caplog.at_level(logging.WARNING):
        model = load_serving_model(artifact, tmp_path / "cache")
    assert model.version == "test-slice"
    assert f"model cache {entry} unreadable" in caplog.text
    assert load_serving_model(artifact, tmp_path / "cache")._estimator is None  # rewritten


def test_an_unwritable_cache_serves_from_the_artifact_and_says_so(
    tmp_path: Path, slice_model: ScoringModel, caplog: pytest.LogCaptureFixture
) -> None:
    artifact = _saved(slice_model, tmp_path / "model.skops")
    blocked = tmp_path / "a-file"
    blocked.write_text("a file where the cache directory should be")
    with caplog.at_level(logging.WARNING):
        model = load_serving_model(artifact, blocked / "cache")
    assert model.version == "test-slice"
    assert "not written" in caplog.text and "the next start loads the artifact" in caplog.text


def test_a_start_from_a_warm_cache_imports_neither_scikit_learn_nor_skops(tmp_path: Path) -> None:
    load_serving_model(DEFAULT_MODEL_PATH, tmp_path)
    probe = (
        "import sys; from pathlib import Path;"
        "from scoring_service.scorer import load_scorer;"
        f"s = load_scorer('', Path({str(tmp_path)!r}));"
        "print(s.version, 'sklearn' in sys.modules, 'skops' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out == [ScoringModel.load(DEFAULT_MODEL_PATH).version, "False", "False"]
