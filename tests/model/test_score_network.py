"""The one-pass read of a whole network gives exactly the two-pass numbers.

`ScoringModel.score_network` computes each row's exchange once for the owner
context and the model's columns (`owner_context.row_volumes`); the servicer scores
every uncached read with it. Context and scores must equal, bit for bit,
`owner_context` followed by `score` without those volumes, for sizes that end inside
a block and span several blocks, at the rows' own instant and later; and the ranks
must equal a plain `searchsorted` over the sorted values.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from scoring_service.features import owner_context as oc
from scoring_service.model import artifact
from scoring_service.model.artifact import ScoringModel, load_default_model
from scoring_service.scorer import score_network
from tests.unit.test_read_path_equivalence import DAY, NOW, network


@pytest.fixture(scope="module")
def model() -> ScoringModel:
    return load_default_model()


def two_passes(model: ScoringModel, states: np.ndarray, as_of: float) -> tuple[np.ndarray, ...]:
    context = oc.owner_context(states, as_of)
    scores = np.empty(len(states))
    for lo in range(0, len(states), artifact.CHUNK):  # `score` without the volumes
        hi = lo + artifact.CHUNK
        scores[lo:hi] = model._score_chunk(states[lo:hi], as_of, context[lo:hi], None, None)
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
