"""Behaviour the seeds promise (issue 15), for the shipped model and a trained one.

Each invariant states its tolerance in `TOL` or in its body. Scores are compared both
with each contact alone in its owner's network and with all of them in one network,
since owner-relative features read the rest of the network.
"""

from __future__ import annotations

import numpy as np
import pytest

from scoring_service.model.artifact import DEFAULT_MODEL_PATH, ScoringModel, load_default_model
from tests.model.scenarios import (
    IN,
    INTIMACY_ORDER,
    MUTUAL,
    OUT,
    alone,
    contact,
    event,
    exchange,
    scored,
)
from vinculo.v1 import events_pb2 as pb

# One worker runs this module: its shared fixtures are built once (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("model-scenarios")

# Two classes may tie (video and phone share one; the weakest classes sit on the same
# calibration plateau), but a weaker class may not score more than TOL above a stronger.
TOL = 0.02
# The ends of the order must be told apart: in person beats a private message by this.
MEETING_OVER_MESSAGE = 0.05
MSG, REACTION, COMMENT = (
    pb.INTERACTION_TYPE_MESSAGE,
    pb.INTERACTION_TYPE_REACTION,
    pb.INTERACTION_TYPE_COMMENT,
)
MEETING, CALL, VIDEO = (
    pb.INTERACTION_TYPE_MEETING_IN_PERSON,
    pb.INTERACTION_TYPE_CALL,
    pb.INTERACTION_TYPE_VIDEO_CALL,
)


@pytest.fixture(scope="module", params=["shipped", "trained"])
def model(request: pytest.FixtureRequest) -> ScoringModel:
    if request.param == "trained":
        trained: ScoringModel = request.getfixturevalue("slice_model")
        return trained
    if not DEFAULT_MODEL_PATH.exists():
        pytest.fail(f"the default model is missing: {DEFAULT_MODEL_PATH}")
    return load_default_model()


def known_gap(request: pytest.FixtureRequest, which: str, reason: str) -> None:
    """Mark this case as a known, still open failure of the `which` model (strict: it
    fails the suite once it passes, so the mark is removed with the fix)."""
    if request.node.callspec.params["model"] == which:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"issue 15, open: {reason}"))


@pytest.mark.parametrize("n", [1, 3, 6])
def test_the_order_of_intimacy(model: ScoringModel, n: int, request: pytest.FixtureRequest) -> None:
    if n != 3:
        known_gap(
            request,
            "trained",
            "a model trained on messages alone (CollegeMsg) scores one meeting within 0.04 "
            "of one message, and six comments or reactions (0.41) and six messages (0.25) "
            "above six calls (0.21)",
        )
    contacts = [exchange(kind, n) for _, kind in INTIMACY_ORDER]
    names = [name for name, _ in INTIMACY_ORDER]
    for scores in (alone(model, *contacts), scored(model, *contacts)[0]):
        for i in range(len(names) - 1):
            assert scores[i] >= scores[i + 1] - TOL, (names[i], names[i + 1], scores)
        assert scores[0] >= scores[3] + MEETING_OVER_MESSAGE, scores


def test_reciprocated_beats_one_sided(model: ScoringModel) -> None:
    both = contact(*[event(MSG, IN if i % 2 else OUT, 2 + 5 * i) for i in range(8)])
    mine = contact(*[event(MSG, OUT, 2 + 5 * i) for i in range(8)])
    for scores in (alone(model, both, mine), scored(model, both, mine)[0]):
        assert scores[0] >= scores[1] + 0.1, scores  # tolerance: a clear margin of 0.1


def test_calls_and_messages_beat_reactions_and_a_comment(model: ScoringModel) -> None:
    talked = contact(event(MSG, IN, 12), event(CALL, OUT, 8), event(VIDEO, IN, 4))
    clicked = contact(*[event(REACTION, IN, 2 + 3 * i) for i in range(5)], event(COMMENT, IN, 5))
    for scores in (alone(model, talked, clicked), scored(model, talked, clicked)[0]):
        assert scores[0] >= scores[1] - TOL, scores


def test_a_long_meeting_is_not_weaker_than_a_few_reactions(
    model: ScoringModel, request: pytest.FixtureRequest
) -> None:
    known_gap(
        request,
        "trained",
        "a model trained on messages alone (CollegeMsg) reads recency first: a comment 4 "
        "days ago and five reactions score 0.28, one 90-minute meeting 10 days ago 0.05",
    )
    met = contact(event(MEETING, MUTUAL, 10, minutes=90))
    clicked = contact(*[event(REACTION, IN, 2 + 3 * i) for i in range(5)], event(COMMENT, IN, 4))
    for scores in (alone(model, met, clicked), scored(model, met, clicked)[0]):
        assert scores[0] >= scores[1] - TOL, scores


@pytest.mark.parametrize("kind", [CALL, VIDEO, MSG], ids=["call", "video", "message"])
@pytest.mark.parametrize("minutes", [0.0, 10.0], ids=["missed", "10min"])
def test_unanswered_outreach_alone_is_never_close(
    model: ScoringModel, kind: int, minutes: float
) -> None:
    outreach = contact(event(kind, OUT, 1, minutes=minutes))
    others = [
        exchange(MSG, 8, every_days=5),
        contact(event(MEETING, MUTUAL, 20, minutes=60)),
        contact(event(CALL, OUT, 1, minutes=10)),
        contact(*[event(REACTION, IN, 2 + 3 * i) for i in range(5)]),
    ]
    assert scored(model, outreach)[1][0] < pb.TIER_CLOSE
    for other in others:  # every two-contact network (tolerance: none, a tier is exact)
        assert scored(model, outreach, other)[1][0] < pb.TIER_CLOSE


def test_a_steady_tie_over_a_year_beats_a_burst_last_week(
    model: ScoringModel, request: pytest.FixtureRequest
) -> None:
    known_gap(
        request,
        "trained",
        "a model trained on one CollegeMsg cut scores 26 messages in the last week "
        "0.75 and the same 26 spread over a year 0.20",
    )
    steady = exchange(MSG, 26, every_days=14, first=3)  # every two weeks for a year
    burst = exchange(MSG, 26, every_days=0.25, first=0.5)  # the same 26, in a week
    for scores in (alone(model, steady, burst), scored(model, steady, burst)[0]):
        assert scores[0] > scores[1], scores  # tolerance: strictly greater


@pytest.mark.parametrize("b_kind", [MSG, MEETING], ids=["messages", "meetings"])
def test_events_for_b_do_not_change_the_tier_of_a(model: ScoringModel, b_kind: int) -> None:
    network = [
        exchange(MSG, 8, every_days=5),
        contact(event(MEETING, MUTUAL, 20, minutes=60)),
        contact(event(CALL, OUT, 1, minutes=10)),
        contact(*[event(REACTION, IN, 2 + 3 * i) for i in range(5)]),
        exchange(MSG, 26, every_days=14),
    ]
    before = scored(model, *network, contact())[1][:-1]
    b = exchange(b_kind, 20, every_days=1, first=1)
    after = scored(model, *network, b)[1][:-1]
    # Tolerance: tiers exact. Scores may move (owner-relative features; up to 0.14 for
    # the shipped model here); WatchRelationships does not report those moves yet.
    np.testing.assert_array_equal(after, before)


def test_a_video_call_is_not_described_as_a_phone_call(model: ScoringModel) -> None:
    video = contact(*[event(VIDEO, IN if i % 2 else OUT, 1 + 2 * i) for i in range(4)])
    both = contact(event(VIDEO, IN, 1), event(CALL, OUT, 3), event(CALL, IN, 5))
    words = model.explain(np.stack([video, both]), 1_750_000_000.0, top=4)
    assert "spoke by video 4 times, 120 minutes in all" in words[0], words[0]
    assert not any("phone" in sentence for sentence in words[0]), words[0]
    assert "spoke on the phone twice and by video once, 90 minutes in all" in words[1], words[1]


def test_a_meeting_is_described_with_its_length(model: ScoringModel) -> None:
    met = contact(event(MEETING, MUTUAL, 3, minutes=90), event(MEETING, MUTUAL, 9, minutes=30))
    words = model.explain(np.stack([met]), 1_750_000_000.0, top=4)
    assert "met in person twice, 120 minutes in all" in words[0], words[0]
