"""Artifact: skops round trip, schema refusal, untrusted types, tiers, trend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.svm import SVC

from scoring_service.features import features, fold
from scoring_service.features.columns import named_columns
from scoring_service.features.owner_context import owner_context
from scoring_service.features.state import new_state
from scoring_service.model.artifact import ModelSchemaError, ScoringModel
from scoring_service.scorer import IncompatibleModel, load_scorer
from vinculo.domain import Interaction
from vinculo.v1 import events_pb2 as pb
from vinculo.v1 import scoring_pb2
from vinculo_apps.training import pipeline
from vinculo_apps.training.dataset import EventLog

# One worker runs this module: its shared fixtures are built once (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("model-artifact")


def test_round_trip_scores_identically(
    tmp_path: Path, slice_model: ScoringModel, college_slice: EventLog
) -> None:
    path = tmp_path / "model.skops"
    slice_model.save(path)
    loaded = ScoringModel.load(path)
    test = pipeline.test_rows(college_slice)
    states, as_of = test.snapshot.states, test.snapshot.as_of
    np.testing.assert_array_equal(slice_model.score(states, as_of), loaded.score(states, as_of))
    assert loaded.version == "test-slice"
    assert loaded.metadata["family"] in ("hist_gradient_boosting", "logistic_regression")
    assert loaded.metadata["tier_thresholds"]["relationship"] == 0.5


def test_load_refuses_another_feature_schema(tmp_path: Path, slice_model: ScoringModel) -> None:
    path = tmp_path / "future.skops"
    ScoringModel(slice_model.estimator, "v", {}, feature_schema_version=999).save(path)
    with pytest.raises(ModelSchemaError) as error:
        ScoringModel.load(path)
    message = str(error.value)
    assert "999" in message and f"version {features.FEATURE_SCHEMA_VERSION}" in message


def test_load_refuses_untrusted_types(tmp_path: Path) -> None:
    path = tmp_path / "evil.skops"
    import skops.io as sio  # here, not on top: its import costs every collecting worker ~0.9 s

    sio.dump({"format": "x", "thing": SVC()}, str(path))
    with pytest.raises(ValueError, match="untrusted"):
        ScoringModel.load(path)


def test_a_model_with_a_horizon_input_round_trips_and_reads_the_horizon(
    tmp_path: Path, college_slice: EventLog
) -> None:
    # Two window lengths, so the horizon column varies as in the pooled build.
    parts = pipeline.training_rows(college_slice, cuts=(0.3, 0.4, 0.5))
    parts += pipeline.training_rows(college_slice, cuts=(0.2,))[:1]
    model = pipeline.fit_model(parts, {}, "h", serving_horizon_days=30.0)
    assert model.metadata["horizon"]["serving_days"] == 30.0
    low, high = model.metadata["label_window_days"]
    assert 0 < low < high
    path = tmp_path / "horizon.skops"
    model.save(path)
    loaded = ScoringModel.load(path)
    test = pipeline.test_rows(college_slice)
    states, as_of = test.snapshot.states, test.snapshot.as_of
    served = loaded.score(states, as_of)
    np.testing.assert_array_equal(served, model.score(states, as_of))
    np.testing.assert_array_equal(served, loaded.score(states, as_of, horizon_days=30.0))
    # a longer window can only hold more contact (monotone input)
    assert np.all(loaded.score(states, as_of, horizon_days=high) >= served - 1e-12)
    assert np.all(loaded.score(states, as_of, horizon_days=low) <= served + 1e-12)


def test_a_model_without_a_horizon_input_ignores_one(
    slice_model: ScoringModel, college_slice: EventLog
) -> None:
    test = pipeline.test_rows(college_slice)
    states, as_of = test.snapshot.states, test.snapshot.as_of
    assert slice_model.serving_horizon_days is None
    np.testing.assert_array_equal(
        slice_model.score(states, as_of), slice_model.score(states, as_of, horizon_days=365.0)
    )


@pytest.mark.parametrize("case", ["missing", "not a zip", "another schema"])
def test_the_service_names_a_model_file_it_cannot_serve(
    tmp_path: Path, slice_model: ScoringModel, case: str
) -> None:
    path = tmp_path / "model.skops"
    if case == "not a zip":
        path.write_text("not a model")
    elif case == "another schema":
        ScoringModel(slice_model.estimator, "v", {}, feature_schema_version=999).save(path)
    expected = {
        "missing": "No such file or directory",
        "not a zip": "not a skops model file",
        "another schema": "feature schema version 999",
    }[case]
    with pytest.raises(IncompatibleModel) as error:
        load_scorer(str(path))
    assert str(path) in str(error.value) and expected in str(error.value)


def test_tiers_rules_and_feedback_override(slice_model: ScoringModel) -> None:
    from scoring_service.features import fold
    from scoring_service.features import state as st
    from vinculo.domain import Interaction
    from vinculo.v1 import events_pb2 as pb

    empty = st.new_state()
    one_sided = st.new_state()
    fold.apply_event(
        one_sided, Interaction(pb.INTERACTION_TYPE_MESSAGE, pb.DIRECTION_OUTBOUND, 1e9)
    )
    marked = one_sided.copy()
    fold.apply_event(
        marked,
        Interaction(pb.INTERACTION_TYPE_FEEDBACK, 0, 1e9, feedback_label=pb.FEEDBACK_LABEL_CLOSE),
    )
    states = np.stack([empty, one_sided, marked])
    tiers = slice_model.tiers(np.array([0.99, 0.99, 0.0]), states)
    assert list(tiers) == [pb.TIER_CONTACT, pb.TIER_ACQUAINTANCE, pb.TIER_CLOSE]


def test_trend_compares_last_month_with_last_year(slice_model: ScoringModel) -> None:
    from scoring_service.features import fold
    from scoring_service.features import state as st
    from vinculo.domain import Interaction
    from vinculo.v1 import events_pb2 as pb

    day, now = 86_400.0, 1e9

    def state_with(times: list[float]) -> np.ndarray:
        s = st.new_state()
        fold.apply_events(
            s, [Interaction(pb.INTERACTION_TYPE_MESSAGE, pb.DIRECTION_INBOUND, t) for t in times]
        )
        return s

    weekly = [now - i * 7 * day for i in range(1, 52)]
    steady = state_with(weekly)
    rising = state_with(weekly + [now - i * day for i in range(1, 21)])
    cooled = state_with([t - 90 * day for t in weekly])  # the same, but silent for 3 months
    new = state_with([now - i * day for i in range(1, 6)])
    trend = slice_model.trend(np.stack([steady, rising, cooled, new]), now)
    assert list(trend) == [
        scoring_pb2.TREND_STEADY,
        scoring_pb2.TREND_STRENGTHENING,
        scoring_pb2.TREND_COOLING,
        scoring_pb2.TREND_STEADY,
    ]


def test_fast_path_gives_scikit_learns_numbers(
    slice_model: ScoringModel, college_slice: EventLog
) -> None:
    from scoring_service.model.fastpath import compile_model
    from vinculo_apps.training.training import logistic_regression

    test = pipeline.test_rows(college_slice)
    x = features.feature_matrix(test.snapshot.states, test.snapshot.as_of)
    x = x[:, features.model_columns()]
    compiled = compile_model(slice_model.estimator)
    assert compiled is not None
    expected = slice_model.estimator.predict_proba(x)[:, 1]
    np.testing.assert_allclose(compiled.proba(np.ascontiguousarray(x.T)), expected, atol=1e-12)
    assert compile_model(logistic_regression()) is None  # anything else: scikit-learn predicts


def test_training_rows_and_served_scores_come_from_one_row_builder(
    slice_model: ScoringModel, college_slice: EventLog
) -> None:
    test = pipeline.test_rows(college_slice)
    snap = test.snapshot
    context = pipeline.snapshot_context(snap)
    built = features.model_input_columns(snap.states, snap.as_of, context, test.horizon_days)
    # training's rows are the builder's, the horizon column last
    np.testing.assert_array_equal(pipeline.model_inputs(test, horizon=True), built.T)
    np.testing.assert_array_equal(pipeline.model_inputs(test), built[:-1].T)
    # the service scores exactly what the builder gives the estimator
    served = slice_model.score(snap.states, snap.as_of, context)
    expected = slice_model.estimator.predict_proba(built[:-1].T)[:, 1]
    np.testing.assert_allclose(served, expected, atol=1e-12)


def test_each_feature_name_is_declared_with_its_column() -> None:
    states = np.stack([features_state(i) for i in range(4)])
    as_of = 1_750_000_000.0
    context = owner_context(states, as_of)
    pairs = named_columns(states.T.copy(), as_of, context.T.copy())
    assert tuple(name for name, _ in pairs) == features.FEATURE_NAMES
    matrix = features.feature_matrix(states, as_of, context)
    for name, values in pairs:
        np.testing.assert_array_equal(matrix[:, features.COLUMN[name]], values, err_msg=name)


def features_state(seed: int) -> np.ndarray:
    """A relationship with a few events of every intimacy class, in both directions."""
    rng = np.random.default_rng(seed)
    kinds = [
        pb.INTERACTION_TYPE_REACTION,
        pb.INTERACTION_TYPE_COMMENT,
        pb.INTERACTION_TYPE_MESSAGE,
        pb.INTERACTION_TYPE_VIDEO_CALL,
        pb.INTERACTION_TYPE_MEETING_IN_PERSON,
    ]
    s = new_state()
    events = [
        Interaction(
            int(rng.choice(kinds)),
            int(rng.choice([pb.DIRECTION_INBOUND, pb.DIRECTION_OUTBOUND])),
            1_750_000_000.0 - float(rng.uniform(0, 200)) * 86_400.0,
            personalized=True,
            duration_seconds=600.0,
        )
        for _ in range(12)
    ]
    fold.apply_events(s, events)
    return s
