"""State schema 5: a meeting counts in the weighted exchange for its length (issue 15)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scoring_service.features import features as ft
from scoring_service.features import fold
from scoring_service.features import state as st
from scoring_service.model.explain import _without_kind
from scoring_service.model.signals import raw_signals
from vinculo.domain import Interaction, Kind
from vinculo.v1 import events_pb2 as pb

DAY = 86_400.0
T0 = 1_700_000_000.0
MEETING = pb.INTERACTION_TYPE_MEETING_IN_PERSON
OUT, IN, MUTUAL = pb.DIRECTION_OUTBOUND, pb.DIRECTION_INBOUND, pb.DIRECTION_MUTUAL


def met(direction: int, t: float, seconds: float) -> Interaction:
    return Interaction(MEETING, direction, t, personalized=True, duration_seconds=seconds)


def row(s: np.ndarray, as_of: float) -> dict[str, float]:
    return dict(zip(ft.FEATURE_NAMES, ft.feature_matrix(s[None, :], as_of)[0], strict=True))


def test_the_amount_a_meeting_counts_as() -> None:
    seconds = np.array([-5.0, 0.0, math.nan, 24.0, 600.0, 5400.0, 11_000.0, 86_400.0])
    expected = [1.0, 1.0, 1.0, 1 + math.log1p(0.04), 1 + math.log(2), 1 + math.log(10)]
    amounts = fold.meeting_amounts(seconds)
    assert amounts[:6] == pytest.approx(expected)
    assert 3.9 < amounts[6] < 4.0  # just under the cap (about 3.2 hours)
    assert amounts[7] == 4.0  # a day together counts as four meetings, no more


@pytest.mark.parametrize("direction, sides", [(OUT, 1), (IN, 1), (MUTUAL, 2)])
def test_the_meetings_whole_part_of_the_exchange_scales(direction: int, sides: int) -> None:
    s = st.new_state()
    fold.apply_events(s, [met(direction, T0, 5400.0)])
    f = row(s, T0 + 7 * DAY)
    amount = 1 + math.log(10)
    # a meeting is two-way: its weight (4) counts on both sides, per direction it has
    assert f["exchange_in_7d"] == pytest.approx(4 * sides * amount * 0.5)
    assert f["exchange_out_7d"] == pytest.approx(4 * sides * amount * 0.5)
    assert f["one_sided_7d"] == 0.0
    # the counters still count events: baselines, explanations and trends read them
    counted = (direction != IN) + (direction != OUT)
    assert f["decayed_meeting_in_person_out_7d"] + f[
        "decayed_meeting_in_person_in_7d"
    ] == pytest.approx(counted * 0.5)
    assert raw_signals(s[None, :], T0 + 7 * DAY)["decay_7d"][0] == pytest.approx(counted * 0.5)
    assert f["meetings"] == 1 and f["contact_seconds"] == 5400


def test_a_meeting_without_a_length_counts_once_as_before() -> None:
    s = st.new_state()
    fold.apply_events(s, [met(MUTUAL, T0, 0.0)])
    assert not s[st.MEETING_EXTRA_START : st.STATE_SIZE].any()
    assert row(s, T0)["exchange_in_7d"] == pytest.approx(8.0)


def test_meeting_lengths_fold_alike_in_any_order_and_batching() -> None:
    rng = np.random.default_rng(3)
    events = [
        met(int(rng.choice([OUT, IN, MUTUAL])), T0 + rng.uniform(0, 60) * DAY, rng.uniform(0, 9000))
        for _ in range(40)
    ]
    one_by_one = st.new_state()
    for e in events:
        fold.apply_event(one_by_one, e)
    reversed_batch = st.new_state()
    fold.apply_events(reversed_batch, events[::-1])
    halves = st.new_state()
    fold.apply_events(halves, events[20:])
    fold.apply_events(halves, events[:20])
    extra = slice(st.MEETING_EXTRA_START, st.STATE_SIZE)
    decayed = slice(st.DECAYED_START, st.TOTALS_START)
    for other in (reversed_batch, halves):
        assert np.allclose(other[extra], one_by_one[extra], rtol=1e-12, atol=0.0)
        assert np.allclose(other[decayed], one_by_one[decayed], rtol=1e-12, atol=0.0)
    assert one_by_one[extra].min() > 0.0


def test_explaining_without_meetings_removes_what_their_length_added() -> None:
    message = Interaction(pb.INTERACTION_TYPE_MESSAGE, IN, T0, personalized=True)
    both, messages_only = st.new_state(), st.new_state()
    fold.apply_events(both, [message, met(MUTUAL, T0 + DAY, 5400.0)])
    fold.apply_events(messages_only, [message])
    stripped = _without_kind(both[None, :], Kind.MEETING)[0]
    as_of = T0 + 3 * DAY
    for name in ("exchange_in_30d", "exchange_out_30d", "exchange_mutual_365d", "contact_seconds"):
        assert row(stripped, as_of)[name] == pytest.approx(row(messages_only, as_of)[name])
