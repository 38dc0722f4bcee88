"""SuggestActions computes trends only for the rows that read them (a strong tie's
NURTURE rule, the rows worded): the same suggestions as with every row's trend."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring_service.features.fold import apply_event
from scoring_service.features.state import DAY, FloatArray, new_state
from scoring_service.suggestions import Cadences, suggest
from scoring_service.tiers import trends
from vinculo.domain import Interaction
from vinculo.v1 import events_pb2 as pb
from vinculo.v1 import scoring_pb2 as spb

NOW = 1_750_000_000.0
TYPES = (
    pb.INTERACTION_TYPE_MESSAGE,
    pb.INTERACTION_TYPE_REPLY,
    pb.INTERACTION_TYPE_CALL,
    pb.INTERACTION_TYPE_MEETING_IN_PERSON,
    pb.INTERACTION_TYPE_COMMENT,
    pb.INTERACTION_TYPE_REACTION,
    pb.INTERACTION_TYPE_CONNECTION_ACCEPTED,
)
DIRECTIONS = (pb.DIRECTION_OUTBOUND, pb.DIRECTION_INBOUND, pb.DIRECTION_MUTUAL)


def network(seed: int, n: int) -> tuple[list[str], FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """Contacts with random histories (bursts of recent messages make some cooling or
    strengthening), random scores and tiers."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        state = new_state()
        recent = rng.random() < 0.3
        ages = sorted(rng.uniform(0, 60 if recent else 900, rng.integers(0, 30)), reverse=True)
        for days_ago in ages:
            kind, direction = int(rng.choice(TYPES)), int(rng.choice(DIRECTIONS))
            event = Interaction(kind, direction, NOW - days_ago * DAY, personalized=True)
            apply_event(state, event)
        rows.append(state)
    tiers = rng.choice([pb.TIER_CONTACT, pb.TIER_ACQUAINTANCE, 3, pb.TIER_CLOSE], n)
    return [f"c{i:04d}" for i in range(n)], np.stack(rows), rng.random(n), tiers


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 120), st.integers(1, 12))
def test_the_same_suggestions_with_only_the_trends_read(seed: int, n: int, limit: int) -> None:
    ids, states, scores, tiers = network(seed, n)
    asked: list[int] = []

    def trends_of(rows: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
        asked.extend(rows.tolist())
        return trends(states[rows], NOW)

    every = suggest(ids, states, scores, tiers, trends(states, NOW), NOW, Cadences(), None, limit)
    only = suggest(ids, states, scores, tiers, trends_of, NOW, Cadences(), None, limit)
    assert [s.SerializeToString() for s in only] == [s.SerializeToString() for s in every]
    strong = set(np.flatnonzero(tiers >= pb.TIER_RELATIONSHIP).tolist())
    nurtured = {ids.index(s.contact_id) for s in only if s.kind == spb.ACTION_KIND_NURTURE}
    assert len(asked) == len(set(asked))  # no row computed twice
    assert set(asked) <= strong | nurtured


def test_a_worded_acquaintance_gets_its_own_trend() -> None:
    """An acquaintance past its cadence is worded with its trend, computed for it alone."""
    ids, states, scores, tiers = network(3, 400)
    tiers[:] = pb.TIER_ACQUAINTANCE
    whole = trends(states, NOW)
    asked: list[int] = []

    def trends_of(rows: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
        asked.extend(rows.tolist())
        return trends(states[rows], NOW)

    kinds: set[int] = {spb.ACTION_KIND_NURTURE}
    cadences = Cadences(acquaintance_days=20.0)
    only = suggest(ids, states, scores, tiers, trends_of, NOW, cadences, kinds, 10)
    assert len(only) == 10 and len(asked) == 10  # no strong tie: only the worded rows
    every = suggest(ids, states, scores, tiers, whole, NOW, cadences, kinds, 10)
    assert [s.SerializeToString() for s in only] == [s.SerializeToString() for s in every]
    assert {s.evidence[1].rsplit(" ", 1)[1] for s in only} > {"steady"}  # trends do differ
