"""Relationship state: decay arithmetic, directions, one-sided outreach, event order."""

from __future__ import annotations

import random

import numpy as np
import pytest

from scoring_service.features import fold
from scoring_service.features import state as st
from vinculo.domain import Interaction, Kind
from vinculo.v1 import events_pb2 as pb
from vinculo_apps.training.dataset import EventLog, snapshots
from vinculo_apps.training.loaders import PairEvent

DAY = 86_400.0
T0 = 1_700_000_000.0


def message(t: float, direction: int = pb.DIRECTION_INBOUND) -> Interaction:
    return Interaction(pb.INTERACTION_TYPE_MESSAGE, direction, t, personalized=True)


def test_one_event_halves_after_one_half_life() -> None:
    s = st.new_state()
    fold.apply_event(s, message(T0))
    counts = st.decayed_counts(s[None, :], T0 + 7 * DAY)[0, Kind.MESSAGE, st.IN]
    expected = [0.5, 2 ** (-7 / 30), 2 ** (-7 / 90), 2 ** (-7 / 365)]
    np.testing.assert_allclose(counts, expected, rtol=1e-12)


def test_two_events_sum_with_their_own_decay() -> None:
    s = st.new_state()
    fold.apply_events(s, [message(T0), message(T0 + 7 * DAY)])
    counts = st.decayed_counts(s[None, :], T0 + 14 * DAY)[0, Kind.MESSAGE, st.IN]
    # 14 days after the first, 7 days after the second, per half-life.
    expected = [2 ** (-14 / h) + 2 ** (-7 / h) for h in (7, 30, 90, 365)]
    np.testing.assert_allclose(counts, expected, rtol=1e-12)
    assert s[st.S["EVENT_COUNT"]] == 2
    assert s[st.totals_index(Kind.MESSAGE, 1)] == 2


def test_out_of_order_events_give_the_same_counters() -> None:
    times = [T0, T0 + 3 * DAY, T0 + 10 * DAY, T0 + 1 * DAY]
    in_order, shuffled = st.new_state(), st.new_state()
    fold.apply_events(in_order, [message(t) for t in sorted(times)])
    fold.apply_events(shuffled, [message(t) for t in times])
    as_of = T0 + 20 * DAY
    np.testing.assert_allclose(
        st.decayed_counts(in_order[None, :], as_of), st.decayed_counts(shuffled[None, :], as_of)
    )
    assert shuffled[st.S["FIRST_TIME"]] == T0
    assert shuffled[st.S["LAST_TIME"]] == T0 + 10 * DAY


def test_late_event_on_an_earlier_day_is_not_counted_twice() -> None:
    s = st.new_state()
    fold.apply_events(
        s, [message(T0 + 5 * DAY), message(T0), message(T0 + 5 * DAY + 60), message(T0 + 60)]
    )
    assert s[st.S["ACTIVE_DAYS"]] == 2  # each distinct day once


def test_a_history_newest_first_counts_the_same_periods_as_oldest_first() -> None:
    times = [T0 + d * DAY + 60 * (d % 5) for d in (0, 1, 1, 3, 9, 10, 24, 60)]
    oldest_first, newest_first = st.new_state(), st.new_state()
    fold.apply_events(oldest_first, [message(t) for t in times])
    fold.apply_events(newest_first, [message(t) for t in reversed(times)])
    for name in ("ACTIVE_DAYS", "ACTIVE_WEEKS"):
        assert oldest_first[st.S[name]] == newest_first[st.S[name]]
    assert oldest_first[st.S["ACTIVE_DAYS"]] == 7
    as_of = T0 + 70 * DAY
    np.testing.assert_allclose(
        st.engaged_days_columns(oldest_first[:, None], as_of),
        st.engaged_days_columns(newest_first[:, None], as_of),
        rtol=1e-12,
    )


def test_engaged_days_count_each_day_the_contact_took_part_once_with_decay() -> None:
    s = st.new_state()
    call = Interaction(pb.INTERACTION_TYPE_CALL, pb.DIRECTION_OUTBOUND, T0 + 7 * DAY)
    fold.apply_events(
        s,
        [
            message(T0),
            message(T0 + 3600),  # the same day: not a second day
            message(T0 + 3 * DAY),
            message(T0 + 5 * DAY, pb.DIRECTION_OUTBOUND),  # the owner alone: no day
            call,  # two-way whoever dialled: a day
            message(T0 + DAY),  # late, inside the span of days counted: not counted
            message(T0 - DAY),  # late, before every day counted: a day
        ],
    )
    as_of = T0 + 14 * DAY  # T0 is 22:13 UTC: each day is weighed from its start
    ago = [14 + (T0 % DAY) / DAY + d for d in (0, -3, -7, 1)]
    days = st.engaged_days_columns(np.ascontiguousarray(s[None, :].T), as_of)[:, 0]
    expected = [sum(2 ** (-a / h) for a in ago) for h in (7, 30, 90, 365)]
    np.testing.assert_allclose(days, expected, rtol=1e-12)


def test_mirrored_directions() -> None:
    event = message(T0, pb.DIRECTION_OUTBOUND)
    log = EventLog.from_events([PairEvent("a", "b", event)])
    (snap,) = snapshots(log, [T0 + 1])
    rows = dict(zip(snap.keys, snap.states, strict=True))
    a_side = st.decayed_counts(rows[("a", "b")][None, :], T0)[0, Kind.MESSAGE]
    b_side = st.decayed_counts(rows[("b", "a")][None, :], T0)[0, Kind.MESSAGE]
    np.testing.assert_array_equal(a_side[st.OUT], b_side[st.IN])
    assert a_side[st.IN].sum() == 0 and b_side[st.OUT].sum() == 0


def test_one_sided_outreach_is_one_attempt_and_never_answered() -> None:
    s = st.new_state()
    fold.apply_events(s, [message(T0 + i * DAY, pb.DIRECTION_OUTBOUND) for i in range(10)])
    assert s[st.S["OUTREACH_SENT"]] == 1  # follow-ups while pending are not new attempts
    assert s[st.S["OUTREACH_ANSWERED"]] == 0
    assert st.decayed_counts(s[None, :], T0)[0, :, st.IN].sum() == 0
    fold.apply_event(s, message(T0 + 11 * DAY))
    assert s[st.S["OUTREACH_ANSWERED"]] == 1
    assert s[st.S["RESPONSE_COUNT"]] == 1
    np.testing.assert_allclose(s[st.S["RESPONSE_LOG_SUM"]], np.log1p(11 * DAY))


def _random_event(rng: random.Random) -> Interaction:
    kind = rng.choice([t for t in pb.InteractionType.values() if t])
    feedback = kind == pb.INTERACTION_TYPE_FEEDBACK
    return Interaction(
        kind,
        rng.choice([pb.DIRECTION_OUTBOUND, pb.DIRECTION_INBOUND, pb.DIRECTION_MUTUAL]),
        T0 + rng.random() * 90 * DAY * rng.choice([0.01, 1.0]),
        personalized=rng.random() < 0.5,
        duration_seconds=rng.choice([0.0, 60.0, 3600.0]),
        audience_size=rng.choice([0, 1, 2, 50]),
        feedback_label=rng.choice([1, 2, 3, 4]) if feedback else 0,
        reply_to_time=None if rng.random() < 0.5 else T0 + rng.random() * 90 * DAY,
    )


@pytest.mark.parametrize("seed", range(40))
def test_a_batch_folds_to_the_state_of_its_events_applied_one_by_one(seed: int) -> None:
    # Every event type, direction and order, on rows with a history (some of it newer).
    rng = random.Random(seed)
    rows = rng.randint(1, 5)
    start = [st.new_state() for _ in range(rows)]
    for state in start:
        fold.apply_events(state, [_random_event(rng) for _ in range(rng.randint(0, 5))])
    batch = [(rng.randrange(rows), _random_event(rng)) for _ in range(rng.randint(1, 40))]
    one_by_one = [state.copy() for state in start]
    for row, event in batch:
        fold.apply_event(one_by_one[row], event)
    together = np.array(start)
    fold.fold(together, fold.Events.of([row for row, _ in batch], [e for _, e in batch]))
    # Counts and times exactly; decayed sums up to the rounding of another summation order.
    np.testing.assert_allclose(together, np.array(one_by_one), rtol=1e-12, atol=0)
