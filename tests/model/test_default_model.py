"""The shipped default model on constructed cases (docs/model.md, 'Guarantees')."""

from __future__ import annotations

import numpy as np
import pytest

from bench.bench_scoring import owner_states
from scoring_service.features import features, fold
from scoring_service.features import state as st
from scoring_service.model.artifact import DEFAULT_MODEL_PATH, ScoringModel, load_default_model
from vinculo.domain import Interaction
from vinculo.v1 import events_pb2 as pb

# One worker runs this module: its shared fixtures are built once (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("model-default")

DAY = 86_400.0
NOW = 1_750_000_000.0
OUT, IN, MUTUAL = pb.DIRECTION_OUTBOUND, pb.DIRECTION_INBOUND, pb.DIRECTION_MUTUAL


@pytest.fixture(scope="module")
def model() -> ScoringModel:
    if not DEFAULT_MODEL_PATH.exists():
        pytest.fail(f"the default model is missing: {DEFAULT_MODEL_PATH}")
    return load_default_model()


def with_event(states: np.ndarray, event: Interaction) -> np.ndarray:
    after = states.copy()
    for row in after:
        fold.apply_event(row, event)
    return after


def state(*events: Interaction) -> np.ndarray:
    s = st.new_state()
    fold.apply_events(s, events)
    return s


def msg(direction: int, days_ago: float, kind: int = pb.INTERACTION_TYPE_MESSAGE) -> Interaction:
    return Interaction(kind, direction, NOW - days_ago * DAY, personalized=True)


@pytest.mark.parametrize(
    "event",
    [
        Interaction(pb.INTERACTION_TYPE_REPLY, IN, NOW - DAY, reply_to_time=NOW - 2 * DAY),
        Interaction(pb.INTERACTION_TYPE_CALL, OUT, NOW - DAY, duration_seconds=300),
        Interaction(pb.INTERACTION_TYPE_CALL, IN, NOW - DAY, duration_seconds=300),
        Interaction(pb.INTERACTION_TYPE_VIDEO_CALL, OUT, NOW - 20 * DAY, duration_seconds=1800),
        Interaction(pb.INTERACTION_TYPE_MEETING_IN_PERSON, MUTUAL, NOW - DAY),
        Interaction(pb.INTERACTION_TYPE_MEETING_IN_PERSON, MUTUAL, NOW - 100 * DAY),
    ],
    ids=["reply", "call-out", "call-in", "old-video-call", "meeting", "old-meeting"],
)
def test_a_reply_call_or_meeting_never_lowers_a_score(
    model: ScoringModel, event: Interaction
) -> None:
    # Each row as its own owner's network (nothing else in it), all rows at once ...
    before = np.vstack([owner_states(300, seed=3), st.new_state()[None, :]])
    after = with_event(before, event)
    alone = np.arange(len(before))
    old = model.score(before, NOW, features.owner_context(before, NOW, alone))
    new = model.score(after, NOW, features.owner_context(after, NOW, alone))
    assert np.all(new >= old - 1e-12)
    # ... and in a network of 300 others, the event added to one relationship at a time
    # (the rest of the owner's network fixed: owner-relative columns leave the row out).
    network = owner_states(len(before), seed=4)
    for i in range(0, len(before), 10):
        changed = network.copy()
        changed[i] = after[i]
        was = network.copy()
        was[i] = before[i]
        assert model.score(changed, NOW)[i] >= model.score(was, NOW)[i] - 1e-12


def test_many_unanswered_messages_never_make_a_relationship(model: ScoringModel) -> None:
    spam = np.stack([state(*[msg(OUT, d) for d in range(n)]) for n in (1, 5, 20, 60, 200)])
    scores = model.score(spam, NOW)
    assert np.all(scores < model.metadata["tier_thresholds"]["relationship"])
    assert np.all(model.tiers(scores, spam) <= pb.TIER_ACQUAINTANCE)
    assert scores[-1] <= scores[0] + 1e-12  # more outreach alone does not raise it


def test_mutual_recent_private_exchange_and_a_meeting_is_a_relationship(
    model: ScoringModel,
) -> None:
    events = [msg(OUT if i % 2 else IN, i * 3) for i in range(20)]
    events.append(Interaction(pb.INTERACTION_TYPE_MEETING_IN_PERSON, MUTUAL, NOW - 5 * DAY))
    close = state(*events)[None, :]
    scores = model.score(close, NOW)
    assert model.tiers(scores, close)[0] >= pb.TIER_RELATIONSHIP


def test_a_connection_without_exchange_is_a_contact(model: ScoringModel) -> None:
    connected = state(Interaction(pb.INTERACTION_TYPE_CONNECTION_ACCEPTED, OUT, NOW - 10 * DAY))
    scores = model.score(connected[None, :], NOW)
    assert model.tiers(scores, connected[None, :])[0] == pb.TIER_CONTACT
    assert scores[0] < model.metadata["tier_thresholds"]["acquaintance"]


def test_explanations_speak_plainly(model: ScoringModel) -> None:
    met = state(
        *[msg(OUT if i % 2 else IN, i * 2) for i in range(12)],
        Interaction(pb.INTERACTION_TYPE_MEETING_IN_PERSON, MUTUAL, NOW - 3 * DAY),
        Interaction(pb.INTERACTION_TYPE_MEETING_IN_PERSON, MUTUAL, NOW - 40 * DAY),
    )
    spam = state(*[msg(OUT, d) for d in range(30)])
    words = model.explain(np.stack([met, spam]), NOW)
    assert "met in person twice" in words[0]
    assert "only you write" in words[1]
    assert all(1 <= len(w) <= 4 for w in words)


def test_the_default_model_predicts_contact_within_its_serving_horizon(
    model: ScoringModel,
) -> None:
    low, high = model.metadata["label_window_days"]
    assert model.serving_horizon_days == model.metadata["horizon"]["serving_days"] == 90.0
    assert low < 90.0 < high  # served inside the window lengths it learned from
    states = owner_states(500, seed=5)
    served = model.score(states, NOW)
    np.testing.assert_array_equal(served, model.score(states, NOW, horizon_days=90.0))
    week, year = (model.score(states, NOW, horizon_days=d) for d in (7.0, 365.0))
    assert np.all(week <= served + 1e-12) and np.all(served <= year + 1e-12)
    assert week.mean() < year.mean()  # the window length is used, not ignored


def test_metadata_documents_the_model(model: ScoringModel) -> None:
    meta = model.metadata
    for key in ("training_span", "label", "calibration", "tier_thresholds", "family", "metrics"):
        assert key in meta, key
    assert DEFAULT_MODEL_PATH.stat().st_size < 2 * 1024 * 1024
