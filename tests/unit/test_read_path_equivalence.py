"""The read path's faster builders give exactly the numbers of the plain ones.

`model_input_columns` computes only the model's columns (`selected_columns`),
`owner_context` computes each row's own volumes in blocks, and the compiled forest
builds its outcome codes in bytes; all must equal, bit for bit, the full feature
matrix's columns, a one-pass context and the intp codes, for any network (including
sizes that end inside a block and several blocks).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from scoring_service.features import columns as cl
from scoring_service.features import features as ft
from scoring_service.features import fold
from scoring_service.features import owner_context as oc
from scoring_service.features import state as st
from scoring_service.model.fastpath import CompiledForest
from vinculo.domain import Interaction
from vinculo.v1 import events_pb2 as pb

DAY = 86_400.0
NOW = 1_760_000_000.0
KINDS = (
    pb.INTERACTION_TYPE_REACTION,
    pb.INTERACTION_TYPE_MESSAGE,
    pb.INTERACTION_TYPE_CALL,
    pb.INTERACTION_TYPE_MEETING_IN_PERSON,
    pb.INTERACTION_TYPE_REPLY,
)


def network(rows: int, seed: int) -> np.ndarray:
    """One owner's states: a few events per contact, some contacts untouched."""
    rng = np.random.default_rng(seed)
    rows_of: list[int] = []
    events: list[Interaction] = []
    for i in range(rows):
        for _ in range(int(rng.integers(0, 4))):
            kind = KINDS[int(rng.integers(len(KINDS)))]
            when = NOW - float(rng.exponential(90.0)) * DAY
            rows_of.append(i)
            events.append(Interaction(kind, int(rng.integers(1, 4)), when, personalized=True))
    states = np.zeros((rows, st.STATE_SIZE))
    fold.fold(states, fold.Events.of(rows_of, events))
    return np.asfortranarray(states)


def one_pass_context(states: np.ndarray, as_of: float) -> np.ndarray:
    """`owner_context` as it was written before the blocks: every row at once."""
    n = states.shape[0]
    s = np.ascontiguousarray(states.T)
    _, ex_out, ex_in = oc.exchange(s, as_of)
    totals = s[st.TOTALS_START : st.TOTALS_START + st.TOTALS_SIZE].reshape(st.N_KINDS, 3, n)
    engaged = np.asarray(oc.engaged_kinds_t(totals).any(axis=0), dtype=np.float64)
    own = oc.own_volumes(s, ex_out, ex_in, engaged)
    context = np.empty((oc.N_CONTEXT, n))
    context[:5] = own[:5].sum(axis=1)[:, None]
    for i in (5, 6):
        context[i] = np.searchsorted(np.sort(own[i]), own[i], side="left")
    result: np.ndarray = context.T
    return result


@settings(max_examples=25, deadline=None)
@given(
    rows=hs.integers(1, 90),
    chunk=hs.sampled_from([1, 7, 16, 4096]),
    seed=hs.integers(0, 2**16),
    days_later=hs.floats(0, 400),
)
def test_context_in_blocks_equals_one_pass(
    rows: int, chunk: int, seed: int, days_later: float
) -> None:
    states = network(rows, seed)
    as_of = NOW + days_later * DAY
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(oc, "CHUNK", chunk)
        blocked = oc.owner_context(states, as_of)
    assert np.array_equal(blocked, one_pass_context(states, as_of))


@settings(max_examples=25, deadline=None)
@given(
    rows=hs.integers(1, 60),
    seed=hs.integers(0, 2**16),
    horizon=hs.sampled_from([None, 30.0, 90.0]),
)
def test_model_columns_equal_the_full_matrix_columns(
    rows: int, seed: int, horizon: float | None
) -> None:
    states = network(rows, seed)
    context = oc.owner_context(states, NOW)
    built = ft.model_input_columns(states, NOW, context, horizon)
    full = ft.feature_matrix(states, NOW, context).T[ft.model_columns()]
    assert np.array_equal(built[: len(full)], full, equal_nan=True)
    if horizon is None:
        assert built.shape == full.shape
    else:
        assert built.shape == (len(full) + 1, rows)
        assert (built[-1] == horizon).all()


def test_model_columns_without_a_context_take_the_rows_as_the_network() -> None:
    states = network(40, 3)
    assert np.array_equal(
        ft.model_input_columns(states, NOW),
        ft.model_input_columns(states, NOW, oc.owner_context(states, NOW)),
        equal_nan=True,
    )


@settings(max_examples=20, deadline=None)
@given(
    rows=hs.integers(1, 60),
    seed=hs.integers(0, 2**16),
    names=hs.lists(hs.sampled_from(ft.FEATURE_NAMES), min_size=1, max_size=12),
    fortran=hs.booleans(),
)
def test_selected_columns_equal_the_named_columns(
    rows: int, seed: int, names: list[str], fortran: bool
) -> None:
    """Any subset of the columns, computed alone from a view or a copy of the states,
    has the values of the full list (the model's 43 are one such subset)."""
    states = network(rows, seed)
    states = np.asfortranarray(states) if fortran else np.ascontiguousarray(states)
    context = oc.owner_context(states, NOW)
    full = dict(
        cl.named_columns(np.ascontiguousarray(states.T), NOW, np.ascontiguousarray(context.T))
    )
    chosen = cl.selected_columns(oc.rows_last(states), NOW, oc.rows_last(context), names)
    for name, values in zip(names, chosen, strict=True):
        assert np.array_equal(values, full[name], equal_nan=True), name


def _reference_proba(forest: CompiledForest, xt: np.ndarray) -> np.ndarray:
    """`CompiledForest.proba` as it was written before the codes were built in bytes."""
    trees, n = len(forest.leaves), xt.shape[1]
    internal = 2**forest.depth - 1
    right = (xt[forest.features] > forest.thresholds).view(np.uint8).reshape(trees, internal, n)
    code = (np.arange(trees, dtype=np.intp) << internal)[:, None] + right[:, 0]
    for k in range(1, internal):
        code += right[:, k].astype(np.intp) << k
    raw = forest.baseline + forest._table[code].sum(axis=0)
    result: np.ndarray = 1.0 / (1.0 + np.exp(forest.slope * raw + forest.intercept))
    return result


@settings(max_examples=25, deadline=None)
@given(
    rows=hs.integers(1, 300),
    seed=hs.integers(0, 2**16),
    depth=hs.integers(1, 3),
    trees=hs.integers(1, 30),
)
def test_forest_codes_in_bytes_give_the_same_probabilities(
    rows: int, seed: int, depth: int, trees: int
) -> None:
    rng = np.random.default_rng(seed)
    internal, features = 2**depth - 1, 9
    forest = CompiledForest(
        features=rng.integers(0, features, trees * internal).astype(np.intp),
        thresholds=np.where(
            rng.random((trees * internal, 1)) < 0.1, np.inf, rng.normal(size=(trees * internal, 1))
        ),
        leaves=rng.normal(size=(trees, 2**depth)),
        depth=depth,
        baseline=float(rng.normal()),
        slope=-float(rng.uniform(0.5, 2.0)),
        intercept=float(rng.normal()),
    )
    xt = np.round(rng.normal(size=(features, rows)), 1)  # ties with the thresholds happen
    assert np.array_equal(forest.proba(xt), _reference_proba(forest, xt))
