"""The one-pass read of a whole network gives exactly the two-pass numbers.

`ScoringModel.score_network` computes each row's exchange once for the owner
context and the model's columns (`owner_context.row_volumes`); the servicer scores
every uncached read with it. It also gives the compiled forest only the inputs its
splits read (`CompiledForest.compact`). Context and scores must equal, bit for bit,
`owner_context` followed by all of the model's inputs and the whole forest, for
sizes that end inside a block and span several blocks, at the rows' own instant and
later; and the ranks must equal a plain `searchsorted` over the sorted values.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from scoring_service.features import features as ft
from scoring_service.features import owner_context as oc
from scoring_service.model import artifact
from scoring_service.model.artifact import ScoringModel, load_default_model
from scoring_service.model.fastpath import CompiledForest
from scoring_service.scorer import score_network
from tests.unit.test_read_path_equivalence import DAY, NOW, network


@pytest.fixture(scope="module")
def model() -> ScoringModel:
    return load_default_model()


def two_passes(model: ScoringModel, states: np.ndarray, as_of: float) -> tuple[np.ndarray, ...]:
    """The context, then every model input of each block computed and predicted from."""
    context = oc.owner_context(states, as_of)
    scores = np.empty(len(states))
    for lo in range(0, len(states), artifact.CHUNK):
        hi = lo + artifact.CHUNK
        xt = ft.model_input_columns(states[lo:hi], as_of, context[lo:hi], model._days(None))
        scores[lo:hi] = model._predict(xt)
    return context, scores


@pytest.mark.parametrize("rows", [1, 2047, 2049, 4097, 9000])
def test_one_pass_equals_two_passes(model: ScoringModel, rows: int) -> None:
    states = network(rows, rows)
    for as_of in (NOW, NOW + 3.3 * DAY, NOW + 400 * DAY):
        context, scores = two_passes(model, states, as_of)
        one_context, one_scores = model.score_network(states, as_of)
        assert np.array_equal(one_context, context)
        assert np.array_equal(one_scores, scores)
        assert np.array_equal(model.score(states, as_of), scores)  # no context: one pass too
        via_protocol = score_network(model, states, as_of)
        assert np.array_equal(via_protocol[1], scores)


class _TwoPassScorer:
    """A scorer without `score_network`: the helper falls back to its two methods."""

    def owner_context(self, states: np.ndarray, as_of: float) -> np.ndarray:
        return np.full((len(states), 1), as_of)

    def score(self, states: np.ndarray, as_of: float, context: np.ndarray) -> np.ndarray:
        scores: np.ndarray = states[:, 0] + context[:, 0]
        return scores


def test_a_scorer_without_one_pass_is_scored_in_two() -> None:
    states = np.arange(6.0).reshape(3, 2)
    context, scores = score_network(_TwoPassScorer(), states, 10.0)  # type: ignore[arg-type]
    assert context.shape == (3, 1)
    assert scores.tolist() == [10.0, 12.0, 14.0]


@settings(max_examples=50, deadline=None)
@given(
    values=hs.lists(
        hs.one_of(hs.sampled_from([0.0, 1.0, -0.0, np.nan, np.inf]), hs.floats(-5, 5)),
        max_size=60,
    )
)
def test_rows_below_is_searchsorted_over_the_sorted_values(values: list[float]) -> None:
    array = np.array(values, dtype=np.float64)
    expected = np.searchsorted(np.sort(array), array, side="left")
    assert np.array_equal(oc.rows_below(array), expected)


def test_rows_below_of_a_large_network_with_ties() -> None:
    """A network-sized array (numpy sorts it otherwise than 60 values): ties, -0.0, NaN, inf."""
    rng = np.random.default_rng(3)
    array = rng.integers(0, 300, 30_000).astype(np.float64)
    array[rng.random(30_000) < 0.3] = 0.0
    array[rng.random(30_000) < 0.1] = -0.0
    array[rng.random(30_000) < 0.01] = np.nan
    array[rng.random(30_000) < 0.01] = np.inf
    expected = np.searchsorted(np.sort(array), array, side="left")
    assert np.array_equal(oc.rows_below(array), expected)


@settings(max_examples=25, deadline=None)
@given(
    rows=hs.integers(1, 200),
    seed=hs.integers(0, 2**16),
    depth=hs.integers(1, 3),
    trees=hs.integers(1, 30),
)
def test_the_compact_forest_reads_only_its_inputs_and_agrees(
    rows: int, seed: int, depth: int, trees: int
) -> None:
    rng = np.random.default_rng(seed)
    internal, features = 2**depth - 1, 12
    forest = CompiledForest(
        features=rng.integers(0, features, trees * internal).astype(np.intp),
        thresholds=np.where(
            rng.random((trees * internal, 1)) < 0.2, np.inf, rng.normal(size=(trees * internal, 1))
        ),
        leaves=rng.normal(size=(trees, 2**depth)),
        depth=depth,
        baseline=float(rng.normal()),
        slope=-float(rng.uniform(0.5, 2.0)),
        intercept=float(rng.normal()),
    )
    xt = np.round(rng.normal(size=(features, rows)), 1)
    unread = np.setdiff1d(np.arange(features), forest.inputs)
    xt[unread] = np.nan  # never read: cannot move a score
    inputs = list(forest.inputs)
    assert np.array_equal(forest.compact.proba(xt[inputs]), forest.proba(xt))


def test_the_served_model_splits_on_fewer_inputs_than_it_has(model: ScoringModel) -> None:
    assert model.compiled is not None
    inputs = ft.model_inputs_of(model.serving_horizon_days is not None)
    assert 0 < len(model.compiled.inputs) < len(inputs)
