"""Events into relationship state, a batch at a time.

`fold(states, events)` applies a batch of events to rows of a state matrix in
place, with the result of applying them one at a time in their order. What
does not depend on order is vectorised over the whole batch: decayed sums
(each row is brought forward once, to its newest event, and every event is
added with its own decay to that time), counts, first and last times, and the
new active days, weeks and engaged days (running extremes per row,
`periods.py`). What is sequential per
relationship — pending outreach and unanswered messages, the last connection
change, the newest feedback — runs in one plain loop over the events that
concern it, on Python floats.

Batching changes only float rounding in the decayed sums (a sum of products
taken in another order), never a count or a time: the scoring service folds
each poll of records, training folds its log between two cuts, and a single
event (`apply_event`) is a batch of one. This module, `periods.py` and
`state.py`'s layout are the only code that turns events into state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scoring_service.features.owner_context import TWO_WAY
from scoring_service.features.periods import count_active_periods, count_engaged_days
from scoring_service.features.state import (
    DECAYED_SIZE,
    DECAYED_START,
    ENGAGED_DAYS_START,
    IN,
    MEETING_EXTRA_START,
    N_DIRS,
    N_HORIZONS,
    OUT,
    REF_TIME,
    TOTALS_START,
    FloatArray,
    S,
    decay_factors,
)
from vinculo.domain import Interaction, Kind, kind_of
from vinculo.v1 import events_pb2 as pb

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

OUTBOUND, INBOUND, MUTUAL = pb.DIRECTION_OUTBOUND, pb.DIRECTION_INBOUND, pb.DIRECTION_MUTUAL
FEEDBACK = pb.INTERACTION_TYPE_FEEDBACK
ACCEPTED = pb.INTERACTION_TYPE_CONNECTION_ACCEPTED
REMOVED = pb.INTERACTION_TYPE_CONNECTION_REMOVED
REPLY = pb.INTERACTION_TYPE_REPLY
VIDEO_CALL = pb.INTERACTION_TYPE_VIDEO_CALL
# Personalised outbound events of these types open an outreach attempt.
OUTREACH_TYPES = frozenset({pb.INTERACTION_TYPE_MESSAGE, pb.INTERACTION_TYPE_CONNECTION_REQUEST})
# An inbound exchange of these kinds answers outreach (a reaction does not).
ANSWERING_KINDS = (Kind.COMMENT, Kind.MESSAGE, Kind.CALL, Kind.MEETING, Kind.SERVICE)
# An inbound event of these kinds waits for the owner's answer.
AWAITING_KINDS = frozenset({int(Kind.MESSAGE), int(Kind.CALL)})
# State schema 5 (issue 15): a meeting in person of D seconds counts in the weighted
# exchange as min(1 + ln(1 + D / MEETING_UNIT_SECONDS), MEETING_AMOUNT_CAP) meetings:
# never less than one, about one for a meeting much shorter than ten minutes, one more
# per e-fold of time beyond that (90 minutes: 3.3), at most four (about 3.2 hours).
# The rule and why, fixed before its results: docs/experiments/2026-12-05-duration.md.
# Calls count once each, whatever their length (see there).
MEETING_UNIT_SECONDS = 600.0
MEETING_AMOUNT_CAP = 4.0

NO_KIND = -1
_TYPE_IDS = sorted(pb.InteractionType.values())
# type -> intimacy class for private events, NO_KIND for connection and feedback events.
_KIND_OF_TYPE = np.full(_TYPE_IDS[-1] + 1, NO_KIND, dtype=np.int64)
for _type in _TYPE_IDS:
    _kind = kind_of(_type)
    _KIND_OF_TYPE[_type] = NO_KIND if _kind is None else int(_kind)
_GROUP_KIND = kind_of(pb.INTERACTION_TYPE_MESSAGE, audience_size=2)  # a group message


@dataclass(frozen=True)
class Events:
    """A batch of validated events as columns, in the order they are applied.

    `rows` says which row of the state matrix each event updates;
    `reply_to_times` is NaN where the answered event's time is unknown.
    """

    rows: IntArray
    types: IntArray
    directions: IntArray
    times: FloatArray
    personalized: BoolArray
    durations: FloatArray
    audiences: IntArray
    feedback_labels: IntArray
    reply_to_times: FloatArray

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def from_tuples(cls, table: Sequence[tuple[float, ...]]) -> Events:
        """From (row, type, direction, time, personalized, duration, audience,
        feedback_label, reply_to_time) tuples: one conversion for the whole batch."""
        columns = np.array(table, dtype=np.float64).reshape(-1, 9).T
        ints = columns[[0, 1, 2, 6, 7]].astype(np.int64)
        return cls(
            rows=ints[0],
            types=ints[1],
            directions=ints[2],
            times=columns[3],
            personalized=columns[4] != 0.0,
            durations=columns[5],
            audiences=ints[3],
            feedback_labels=ints[4],
            reply_to_times=columns[8],
        )

    @classmethod
    def of(cls, rows: Sequence[int], interactions: Sequence[Interaction]) -> Events:
        return cls.from_tuples(
            [columns_of(row, e) for row, e in zip(rows, interactions, strict=True)]
        )

    def where(self, mask: BoolArray) -> Events:
        return Events(*(getattr(self, name)[mask] for name in self.__dataclass_fields__))


def columns_of(row: int, event: Interaction, direction: int | None = None) -> tuple[float, ...]:
    """One event as `Events.from_tuples` takes it; `direction` overrides the event's own."""
    return (
        row,
        event.type,
        event.direction if direction is None else direction,
        event.time,
        event.personalized,
        event.duration_seconds,
        event.audience_size,
        event.feedback_label,
        math.nan if event.reply_to_time is None else event.reply_to_time,
    )


def apply_event(state: FloatArray, event: Interaction) -> None:
    """Fold one event into one relationship's state vector, in place."""
    fold(state[None, :], Events.of([0], [event]))


def apply_events(state: FloatArray, events: Sequence[Interaction]) -> None:
    """Fold events into one relationship's state vector, in place, in their order."""
    fold(state[None, :], Events.of([0] * len(events), events))


def kinds(events: Events) -> IntArray:
    """Each event's intimacy class (`Kind`), NO_KIND for connection and feedback events."""
    kind = _KIND_OF_TYPE[events.types]
    if _GROUP_KIND is not None:
        group = (kind == Kind.MESSAGE) & (events.audiences > 1)
        kind[group] = int(_GROUP_KIND)
    return kind


def fold(states: FloatArray, events: Events) -> None:
    """Apply `events` to the rows of `states` they name, in place, as if one by one in order."""
    if not len(events):
        return
    kind = kinds(events)
    outbound = (events.directions == OUTBOUND) | (events.directions == MUTUAL)
    inbound = (events.directions == INBOUND) | (events.directions == MUTUAL)
    feedback = events.types == FEEDBACK
    _touch_times(states, events.where(~feedback), outbound[~feedback], inbound[~feedback])
    _apply_feedback(states, events.where(feedback))
    _apply_connections(states, events.where((events.types == ACCEPTED) | (events.types == REMOVED)))
    counted = kind != NO_KIND
    if counted.any():
        exchanged = events.where(counted)
        _add_decayed(states, exchanged, kind[counted], outbound[counted], inbound[counted])
        _count(states, exchanged, kind[counted], outbound[counted], inbound[counted])
        # A reaction is one click (issue 15): it counts in the exchange at its weight,
        # but it opens no active or engaged period and refreshes no conversation time.
        talk = kind[counted] != Kind.REACTION
        _touch_talk(states, exchanged.where(talk), outbound[counted][talk], inbound[counted][talk])
        count_active_periods(states, exchanged.rows[talk], exchanged.times[talk])
        took_part = (inbound[counted] | TWO_WAY[kind[counted]]) & talk
        count_engaged_days(states, exchanged.rows[took_part], exchanged.times[took_part])
        _track_replies(states, exchanged)
    _track_outreach(states, events, kind)


def _touch_times(
    states: FloatArray, events: Events, outbound: BoolArray, inbound: BoolArray
) -> None:
    rows, times = events.rows, events.times
    # FIRST_TIME 0 means "none yet".
    first = states[:, S["FIRST_TIME"]]
    earliest = np.where(first == 0.0, np.inf, first)
    np.minimum.at(earliest, rows, times)
    states[:, S["FIRST_TIME"]] = np.where(np.isinf(earliest), first, earliest)
    np.maximum.at(states[:, S["LAST_TIME"]], rows, times)
    np.maximum.at(states[:, S["LAST_OUT_TIME"]], rows[outbound], times[outbound])
    np.maximum.at(states[:, S["LAST_IN_TIME"]], rows[inbound], times[inbound])


def _touch_talk(
    states: FloatArray, events: Events, outbound: BoolArray, inbound: BoolArray
) -> None:
    """LAST_TALK_OUT_TIME and LAST_TALK_IN_TIME: the newest exchange other than a reaction."""
    rows, times = events.rows, events.times
    np.maximum.at(states[:, S["LAST_TALK_OUT_TIME"]], rows[outbound], times[outbound])
    np.maximum.at(states[:, S["LAST_TALK_IN_TIME"]], rows[inbound], times[inbound])


def _apply_feedback(states: FloatArray, events: Events) -> None:
    """The newest label wins; of two at the same time, the later one."""
    label_col, time_col = S["FEEDBACK_LABEL"], S["FEEDBACK_TIME"]
    for row, t, label in zip(
        events.rows.tolist(), events.times.tolist(), events.feedback_labels.tolist(), strict=True
    ):
        if t >= states[row, time_col]:
            states[row, label_col] = label
            states[row, time_col] = t


def _apply_connections(states: FloatArray, events: Events) -> None:
    """The last change in order decides whether the two are connected."""
    connected, since, removed = S["CONNECTED"], S["CONNECTED_TIME"], S["REMOVED_TIME"]
    for row, kind, t in zip(
        events.rows.tolist(), events.types.tolist(), events.times.tolist(), strict=True
    ):
        if kind == ACCEPTED:
            states[row, connected] = 1.0
            if states[row, since] == 0.0 or t < states[row, since]:
                states[row, since] = t
        else:
            states[row, connected] = 0.0
            states[row, removed] = max(states[row, removed], t)


def _add_decayed(
    states: FloatArray, events: Events, kind: IntArray, outbound: BoolArray, inbound: BoolArray
) -> None:
    """Bring each row's decayed block forward to its newest event, then add every event
    with its own decay to that time (a mutual event counts in both directions)."""
    rows, times = events.rows, events.times
    ref = states[:, REF_TIME].copy()
    newest = ref.copy()
    np.maximum.at(newest, rows, times)
    # (rows, kinds * directions, horizons): a view, splitting the block's last axis.
    block = states[:, DECAYED_START : DECAYED_START + DECAYED_SIZE].reshape(
        len(states), DECAYED_SIZE // N_HORIZONS, N_HORIZONS
    )
    forward = newest > ref
    if forward.any():
        factors = decay_factors(newest[forward] - ref[forward])
        block[forward] *= factors[:, None, :]
        # The engaged days and the meetings' extra are kept as of REF_TIME too.
        states[forward, ENGAGED_DAYS_START : ENGAGED_DAYS_START + N_HORIZONS] *= factors
        states[forward, MEETING_EXTRA_START : MEETING_EXTRA_START + N_HORIZONS] *= factors
    states[:, REF_TIME] = newest
    weights = decay_factors(newest[rows] - times)  # (events, horizons)
    slot = kind * N_DIRS
    np.add.at(block, (rows[outbound], slot[outbound] + OUT), weights[outbound])
    np.add.at(block, (rows[inbound], slot[inbound] + IN), weights[inbound])
    met = kind == Kind.MEETING
    if met.any():
        # Once per direction the meeting counts in, as the DECAYED block counts it (a
        # mutual meeting twice), so the meeting's whole part of the exchange scales.
        sides = outbound[met].astype(np.float64) + inbound[met]
        more = (meeting_amounts(events.durations[met]) - 1.0) * sides
        np.add.at(
            states,
            (rows[met][:, None], MEETING_EXTRA_START + _HORIZONS),
            weights[met] * more[:, None],
        )


_HORIZONS = np.arange(N_HORIZONS)


def meeting_amounts(durations: FloatArray) -> FloatArray:
    """How many meetings each meeting of these lengths (seconds) counts as in the exchange."""
    seconds = np.maximum(np.nan_to_num(durations), 0.0)
    amounts: FloatArray = np.minimum(
        1.0 + np.log1p(seconds / MEETING_UNIT_SECONDS), MEETING_AMOUNT_CAP
    )
    return amounts


def _count(
    states: FloatArray, events: Events, kind: IntArray, outbound: BoolArray, inbound: BoolArray
) -> None:
    rows = events.rows
    column = np.where(outbound & inbound, 2, np.where(outbound, 0, 1))
    np.add.at(states, (rows, TOTALS_START + kind * 3 + column), 1.0)
    np.add.at(states[:, S["EVENT_COUNT"]], rows, 1.0)
    calls = kind == Kind.CALL
    np.add.at(states[:, S["CALL_SECONDS"]], rows[calls], np.maximum(events.durations[calls], 0.0))
    met = kind == Kind.MEETING
    np.add.at(states[:, S["MEETING_SECONDS"]], rows[met], np.maximum(events.durations[met], 0.0))
    video = events.types == VIDEO_CALL
    np.add.at(states[:, S["VIDEO_CALLS"]], rows[video], 1.0)


def _track_replies(states: FloatArray, events: Events) -> None:
    replies = events.types == REPLY
    if not replies.any():
        return
    rows, times, answered = events.rows, events.times, events.reply_to_times
    received = replies & (events.directions == INBOUND)
    np.add.at(states[:, S["REPLIES_IN"]], rows[received], 1.0)
    sent = replies & (events.directions == OUTBOUND)
    np.add.at(states[:, S["REPLIES_OUT"]], rows[sent], 1.0)
    timed = received & ~np.isnan(answered)
    timed[timed] = times[timed] >= answered[timed]
    np.add.at(states[:, S["RESPONSE_COUNT"]], rows[timed], 1.0)
    np.add.at(
        states[:, S["RESPONSE_LOG_SUM"]], rows[timed], np.log1p(times[timed] - answered[timed])
    )


_ANSWERING = np.zeros(len(Kind) + 1, dtype=bool)  # indexed by kind; NO_KIND is the last slot
_ANSWERING[[int(k) for k in ANSWERING_KINDS]] = True
_OPENING_TYPES = np.array(sorted(OUTREACH_TYPES))


def _track_outreach(states: FloatArray, events: Events, kind: IntArray) -> None:
    """Personalised outreach by the owner, whether the contact engaged after it, and the
    contact's messages still waiting for the owner's answer.

    An attempt opens with a personalised outbound message or invitation and is
    answered by the contact's next inbound exchange (a comment or anything more
    intimate; a reaction does not answer). Follow-ups while an attempt is open
    are not new attempts, so a pestering owner cannot inflate the count.
    """
    answering = _ANSWERING[kind]
    opening = (
        (events.directions == OUTBOUND)
        & events.personalized
        & np.isin(events.types, _OPENING_TYPES)
    )
    concerned = answering | opening
    if not concerned.any():
        return
    columns = [
        S[name]
        for name in (
            "PENDING_OUTREACH_TIME",
            "PENDING_INBOUND_TIME",
            "OUTREACH_SENT",
            "OUTREACH_ANSWERED",
            "RESPONSE_COUNT",
            "RESPONSE_LOG_SUM",
        )
    ]
    pending, awaiting, sent, answered, responses, response_logs = states[:, columns].T.tolist()
    for row, direction, t, k, opens, answers, unknown_reply in zip(
        events.rows[concerned].tolist(),
        events.directions[concerned].tolist(),
        events.times[concerned].tolist(),
        kind[concerned].tolist(),
        opening[concerned].tolist(),
        answering[concerned].tolist(),
        np.isnan(events.reply_to_times[concerned]).tolist(),
        strict=True,
    ):
        if opens and pending[row] == 0.0:
            sent[row] += 1.0
            pending[row] = t
        if not answers:
            continue
        if direction != OUTBOUND:  # the contact took part
            opened = pending[row]
            if opened and t >= opened:
                answered[row] += 1.0
                pending[row] = 0.0
                if unknown_reply:  # a reply measured its own delay
                    responses[row] += 1.0
                    response_logs[row] += math.log1p(t - opened)
            if direction == INBOUND and k in AWAITING_KINDS and awaiting[row] == 0.0:
                awaiting[row] = t
        if direction != INBOUND and t >= awaiting[row]:
            awaiting[row] = 0.0
    states[:, columns] = np.array(
        [pending, awaiting, sent, answered, responses, response_logs], dtype=np.float64
    ).T
