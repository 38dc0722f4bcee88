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
    known_gap(
        request,
        "trained",
        "a model trained on messages alone (CollegeMsg) reads the owner's other ties "
        "(unconstrained owner_* inputs): in one network, one meeting 0.10 and one video "
        "call 0.12, three meetings 0.33 and three video calls 0.38 (since schema 6: the "
        "meetings' longer exchange raises the others' context; alone 0.51 against 0.31), "
        "six messages 0.12, six meetings 0.38 and six video calls 0.62",
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


def test_a_long_meeting_is_not_weaker_than_a_few_reactions(model: ScoringModel) -> None:
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
def test_events_for_b_do_not_change_the_tier_of_a(
    model: ScoringModel, b_kind: int, request: pytest.FixtureRequest
) -> None:
    if b_kind == MEETING:
        known_gap(
            request,
            "trained",
            "since schema 6, the CollegeMsg-slice model reads the reactions tie 0.114 "
            "(acquaintance) beside a 60-minute meeting's longer exchange, 0.052 once B has 20 "
            "meetings (schema 5: 0.038 and 0.052); its owner_* inputs are unconstrained",
        )
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


# Schema 6 (state schema 5): a meeting counts in the weighted exchange for its length
# (fold.meeting_amounts). Settings: the meeting alone, beside four messages, beside an
# earlier 30-minute meeting; the meeting 1, 10 or 60 days ago. "All else equal" holds
# the rest of the network fixed too: each tie is scored alone, and in one fixed network
# of three other ties (scoring the two compared ties in one network would make each the
# other's owner context, which the unconstrained `owner_*` inputs read).
_BESIDE = {
    "alone": (),
    "messages": ((MSG, IN, 5), (MSG, OUT, 6), (MSG, IN, 20), (MSG, OUT, 21)),
    "meeting": ((MEETING, MUTUAL, 40),),
}


def _met(minutes: float, days_ago: float, beside: str) -> np.ndarray:
    others = [event(kind, direction, days, minutes=30) for kind, direction, days in _BESIDE[beside]]
    return contact(event(MEETING, MUTUAL, days_ago, minutes=minutes), *others)


def _all_else_equal(model: ScoringModel, ties: list[np.ndarray]) -> list[np.ndarray]:
    """The ties' scores alone, and each in the same network of three other ties."""
    network = (
        exchange(MSG, 8, every_days=5),
        _met(45.0, 12.0, "alone"),
        contact(*[event(REACTION, IN, 2 + 3 * i) for i in range(5)]),
    )
    within = np.array([scored(model, tie, *network)[0][0] for tie in ties])
    return [alone(model, *ties), within]


@pytest.mark.parametrize("days_ago", [1, 10, 60])
@pytest.mark.parametrize("beside", list(_BESIDE))
def test_a_longer_meeting_is_not_weaker_than_a_shorter_one(
    model: ScoringModel, beside: str, days_ago: float
) -> None:
    minutes = (0.0, 1.0, 10.0, 30.0, 90.0, 240.0, 600.0)
    for scores in _all_else_equal(model, [_met(m, days_ago, beside) for m in minutes]):
        # tolerance: none beyond float rounding; all else equal, more minutes never lower it
        assert np.all(np.diff(scores) >= -1e-12), (minutes, scores)


# Measured ties (both scores equal): the trees have no split between the two amounts
# of weighted exchange there (docs/experiments/2026-12-05-duration.md).
_SLICE = "the CollegeMsg-slice model (messages only) has no split between 1.1 and 3.3 meetings"
_TIED_90_VS_1: dict[str, dict[tuple[str, int], str]] = {
    "trained": {
        ("alone", 10): _SLICE + " (in the network 0.241 both; alone 0.164 against 0.130)",
        ("alone", 60): _SLICE + " (0.126 both alone, 0.233 both in the network)",
        ("messages", 60): _SLICE + " (in the network 0.403 both; alone 0.147 against 0.141)",
    },
    "shipped": {
        ("meeting", 1): "default-5 beside an earlier 30-minute meeting: 0.560 both alone, 0.720 "
        "both in the network (the public logs' exchange ends below both amounts)",
        ("meeting", 10): "default-5 beside an earlier 30-minute meeting: 0.428 both alone, 0.581 "
        "both in the network",
    },
}


@pytest.mark.parametrize("days_ago", [1, 10, 60])
@pytest.mark.parametrize("beside", list(_BESIDE))
def test_a_90_minute_meeting_beats_a_1_minute_meeting(
    model: ScoringModel, beside: str, days_ago: float, request: pytest.FixtureRequest
) -> None:
    if (beside, days_ago) in _TIED_90_VS_1["trained"]:
        known_gap(request, "trained", _TIED_90_VS_1["trained"][(beside, days_ago)])
    if (beside, days_ago) in _TIED_90_VS_1["shipped"]:
        known_gap(request, "shipped", _TIED_90_VS_1["shipped"][(beside, days_ago)])
    long, short = _met(90.0, days_ago, beside), _met(1.0, days_ago, beside)
    for scores in _all_else_equal(model, [long, short]):
        assert scores[0] > scores[1] + 0.001, scores  # tolerance: more than a tie, 0.001
