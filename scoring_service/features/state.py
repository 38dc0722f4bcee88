"""Per-relationship state: one float64 vector per (owner, contact).

Counters are exponentially decayed sums kept "as of" a reference time
(`REF_TIME`); reading them as of a later instant is one multiplication per
half-life (DESIGN.md, decision 3). An event older than the reference time is
added with its own decay factor, so the decayed sums do not depend on the
order events arrive in.

The same vector feeds the scoring service and training: `apply_event` is the
only code that turns events into state, and `features.feature_matrix` the only
code that turns state into model inputs. Changing the layout means bumping
`STATE_SCHEMA_VERSION` (stored rows of another version are rebuilt from the
log, never misread).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from vinculo.domain import Interaction, Kind
from vinculo.v1 import events_pb2 as pb

STATE_SCHEMA_VERSION = 2  # 2: VIDEO_CALLS, for the funnel's "met in person or by video"

DAY = 86_400.0
# Days, weeks, months, a year: a long tie survives a quiet year at the last horizon.
HALF_LIVES_DAYS: tuple[float, ...] = (7.0, 30.0, 90.0, 365.0)
N_HORIZONS = len(HALF_LIVES_DAYS)
N_KINDS = len(Kind)
OUT, IN = 0, 1  # decayed counters keep two directions; mutual adds to both
N_DIRS = 2

FloatArray = npt.NDArray[np.float64]

# --- layout -----------------------------------------------------------------
# DECAYED[kind, dir, horizon] block first, then totals[kind, out/in/mutual],
# then scalars. Offsets are module constants so vectorised code can slice.
DECAYED_START = 0
DECAYED_SIZE = N_KINDS * N_DIRS * N_HORIZONS
TOTALS_START = DECAYED_START + DECAYED_SIZE
TOTALS_SIZE = N_KINDS * 3
_SCALARS = (
    "REF_TIME",  # time the decayed block is expressed at
    "FIRST_TIME",
    "LAST_TIME",
    "LAST_OUT_TIME",
    "LAST_IN_TIME",
    "EVENT_COUNT",
    "REPLIES_IN",  # replies the contact sent the owner
    "REPLIES_OUT",
    "OUTREACH_SENT",  # personalised outreach attempts by the owner
    "OUTREACH_ANSWERED",
    "PENDING_OUTREACH_TIME",  # oldest unanswered personalised outreach, 0 if none
    "PENDING_INBOUND_TIME",  # oldest inbound message the owner has not answered, 0 if none
    "RESPONSE_COUNT",  # contact's answers to the owner with a measured delay
    "RESPONSE_LOG_SUM",  # sum of log1p(seconds) of those delays
    "ACTIVE_DAYS",
    "LAST_ACTIVE_DAY",
    "ACTIVE_WEEKS",
    "LAST_ACTIVE_WEEK",
    "CALL_SECONDS",
    "CONNECTED",  # 1 while connected on a network such as LinkedIn
    "CONNECTED_TIME",
    "REMOVED_TIME",
    "FEEDBACK_LABEL",  # a FeedbackLabel value, 0 when none
    "FEEDBACK_TIME",
    "VIDEO_CALLS",  # video calls among the calls: the posts count them as meeting remotely
)
SCALARS_START = TOTALS_START + TOTALS_SIZE
S: dict[str, int] = {name: SCALARS_START + i for i, name in enumerate(_SCALARS)}
STATE_SIZE = SCALARS_START + len(_SCALARS)

REF_TIME = S["REF_TIME"]
_HALF_LIVES_S = np.array(HALF_LIVES_DAYS) * DAY
_LN2 = math.log(2.0)


def decayed_index(kind: int, direction: int, horizon: int) -> int:
    return DECAYED_START + (kind * N_DIRS + direction) * N_HORIZONS + horizon


def totals_index(kind: int, column: int) -> int:
    """column: 0 outbound, 1 inbound, 2 mutual."""
    return TOTALS_START + kind * 3 + column


def new_state() -> FloatArray:
    return np.zeros(STATE_SIZE, dtype=np.float64)


def decay_factors(elapsed_seconds: FloatArray | float) -> FloatArray:
    """2^(-elapsed/half_life) for each horizon; shape (..., N_HORIZONS)."""
    elapsed = np.maximum(np.asarray(elapsed_seconds, dtype=np.float64), 0.0)
    return np.exp(-_LN2 * elapsed[..., None] / _HALF_LIVES_S)


def decayed_counts(states: FloatArray, as_of: float) -> FloatArray:
    """Decayed counters of many states read at `as_of`: shape (n, kinds, dirs, horizons)."""
    return decayed_columns(np.ascontiguousarray(states.T), as_of).transpose(3, 0, 1, 2)


def decayed_columns(states_t: FloatArray, as_of: float) -> FloatArray:
    """The same from `states.T` (STATE_SIZE, n): shape (kinds, dirs, horizons, n).

    Rows last: numpy loops fast over a long last axis and slowly over short
    ones (measured 15x on (n, 6, 2, 4) blocks), so vectorised code works here.
    """
    n = states_t.shape[1]
    block = states_t[DECAYED_START:TOTALS_START].reshape(N_KINDS, N_DIRS, N_HORIZONS, n)
    factors = np.exp(-_LN2 * np.maximum(as_of - states_t[REF_TIME], 0.0) / _HALF_LIVES_S[:, None])
    counts: FloatArray = block * factors  # factors (horizons, n) broadcast over kinds, dirs
    return counts


# --- applying events ----------------------------------------------------------

_ANSWERING_KINDS = (Kind.COMMENT, Kind.MESSAGE, Kind.CALL, Kind.MEETING, Kind.SERVICE)
_OUTREACH_TYPES = (pb.INTERACTION_TYPE_MESSAGE, pb.INTERACTION_TYPE_CONNECTION_REQUEST)


def apply_events(state: FloatArray, events: Iterable[Interaction]) -> None:
    for event in events:
        apply_event(state, event)


def apply_event(state: FloatArray, event: Interaction) -> None:
    """Fold one event into a relationship's state, in place."""
    t = event.time
    _touch_times(state, event)
    if event.type == pb.INTERACTION_TYPE_FEEDBACK:
        if t >= state[S["FEEDBACK_TIME"]]:
            state[S["FEEDBACK_LABEL"]] = event.feedback_label
            state[S["FEEDBACK_TIME"]] = t
        return
    if _apply_connection(state, event):
        _track_outreach(state, event, kind=None)
        return
    kind = event.kind
    if kind is None:
        return
    outbound = event.direction in (pb.DIRECTION_OUTBOUND, pb.DIRECTION_MUTUAL)
    inbound = event.direction in (pb.DIRECTION_INBOUND, pb.DIRECTION_MUTUAL)
    _add_decayed(state, kind, OUT if outbound else IN, t)
    if outbound and inbound:
        _add_decayed(state, kind, IN, t)
    column = 2 if (outbound and inbound) else (OUT if outbound else IN)
    state[totals_index(kind, column)] += 1.0
    state[S["EVENT_COUNT"]] += 1.0
    if kind is Kind.CALL:
        state[S["CALL_SECONDS"]] += max(event.duration_seconds, 0.0)
        if event.type == pb.INTERACTION_TYPE_VIDEO_CALL:
            state[S["VIDEO_CALLS"]] += 1.0
    _count_active_periods(state, t)
    _track_replies(state, event, outbound, inbound)
    _track_outreach(state, event, kind)


def _touch_times(state: FloatArray, event: Interaction) -> None:
    t = event.time
    if event.type == pb.INTERACTION_TYPE_FEEDBACK:
        return
    if state[S["FIRST_TIME"]] == 0.0 or t < state[S["FIRST_TIME"]]:
        state[S["FIRST_TIME"]] = t
    state[S["LAST_TIME"]] = max(state[S["LAST_TIME"]], t)
    if event.direction in (pb.DIRECTION_OUTBOUND, pb.DIRECTION_MUTUAL):
        state[S["LAST_OUT_TIME"]] = max(state[S["LAST_OUT_TIME"]], t)
    if event.direction in (pb.DIRECTION_INBOUND, pb.DIRECTION_MUTUAL):
        state[S["LAST_IN_TIME"]] = max(state[S["LAST_IN_TIME"]], t)


def _apply_connection(state: FloatArray, event: Interaction) -> bool:
    if event.type == pb.INTERACTION_TYPE_CONNECTION_ACCEPTED:
        state[S["CONNECTED"]] = 1.0
        if state[S["CONNECTED_TIME"]] == 0.0 or event.time < state[S["CONNECTED_TIME"]]:
            state[S["CONNECTED_TIME"]] = event.time
        return True
    if event.type == pb.INTERACTION_TYPE_CONNECTION_REMOVED:
        state[S["CONNECTED"]] = 0.0
        state[S["REMOVED_TIME"]] = max(state[S["REMOVED_TIME"]], event.time)
        return True
    return event.type == pb.INTERACTION_TYPE_CONNECTION_REQUEST


def _add_decayed(state: FloatArray, kind: int, direction: int, t: float) -> None:
    ref = state[REF_TIME]
    lo = decayed_index(kind, direction, 0)
    # Per consumed record: the factors are computed as `decay_factors` does (same
    # operations, same bits) without its array wrapping, on a (kinds*dirs, horizons)
    # view of the block instead of a repeated copy of the factors.
    if t > ref:
        # Bring the whole block forward to t, then add the event at full weight.
        block = state[DECAYED_START:TOTALS_START].reshape(N_KINDS * N_DIRS, N_HORIZONS)
        block *= np.exp(-_LN2 * float(t - ref) / _HALF_LIVES_S)
        state[REF_TIME] = t
        state[lo : lo + N_HORIZONS] += 1.0
    else:
        state[lo : lo + N_HORIZONS] += np.exp(-_LN2 * float(ref - t) / _HALF_LIVES_S)


def _count_active_periods(state: FloatArray, t: float) -> None:
    # Distinct days and weeks with one scalar each: a late event on an earlier
    # day is not counted (under-counting is bounded; counting on every change
    # of day, as before, let an out-of-order stream count one day many times).
    day = math.floor(t / DAY) + 1.0
    week = math.floor(t / (7 * DAY)) + 1.0
    if day > state[S["LAST_ACTIVE_DAY"]]:
        state[S["ACTIVE_DAYS"]] += 1.0
        state[S["LAST_ACTIVE_DAY"]] = day
    if week > state[S["LAST_ACTIVE_WEEK"]]:
        state[S["ACTIVE_WEEKS"]] += 1.0
        state[S["LAST_ACTIVE_WEEK"]] = week


def _track_replies(state: FloatArray, event: Interaction, outbound: bool, inbound: bool) -> None:
    if event.type != pb.INTERACTION_TYPE_REPLY:
        return
    if inbound and not outbound:
        state[S["REPLIES_IN"]] += 1.0
        if event.reply_to_time is not None and event.time >= event.reply_to_time:
            state[S["RESPONSE_COUNT"]] += 1.0
            state[S["RESPONSE_LOG_SUM"]] += math.log1p(event.time - event.reply_to_time)
    elif outbound and not inbound:
        state[S["REPLIES_OUT"]] += 1.0


def _track_outreach(state: FloatArray, event: Interaction, kind: Kind | None) -> None:
    """Personalised outreach by the owner, and whether the contact engaged after it.

    An attempt opens with a personalised outbound message or invitation and is
    answered by the contact's next inbound exchange (a comment or anything more
    intimate; a reaction does not answer). Follow-ups while an attempt is open
    are not new attempts, so a pestering owner cannot inflate the count.
    """
    t = event.time
    direction = event.direction
    opens = direction == pb.DIRECTION_OUTBOUND and event.personalized
    if opens and event.type in _OUTREACH_TYPES and state[S["PENDING_OUTREACH_TIME"]] == 0.0:
        state[S["OUTREACH_SENT"]] += 1.0
        state[S["PENDING_OUTREACH_TIME"]] = t
    answering = kind in _ANSWERING_KINDS
    if direction in (pb.DIRECTION_INBOUND, pb.DIRECTION_MUTUAL) and answering:
        pending = state[S["PENDING_OUTREACH_TIME"]]
        if pending and t >= pending:
            state[S["OUTREACH_ANSWERED"]] += 1.0
            state[S["PENDING_OUTREACH_TIME"]] = 0.0
            if event.reply_to_time is None:  # replies measured their delay already
                state[S["RESPONSE_COUNT"]] += 1.0
                state[S["RESPONSE_LOG_SUM"]] += math.log1p(t - pending)
        unanswered = state[S["PENDING_INBOUND_TIME"]] == 0.0
        if direction == pb.DIRECTION_INBOUND and kind in (Kind.MESSAGE, Kind.CALL) and unanswered:
            state[S["PENDING_INBOUND_TIME"]] = t
    outgoing = direction in (pb.DIRECTION_OUTBOUND, pb.DIRECTION_MUTUAL)
    if outgoing and answering and t >= state[S["PENDING_INBOUND_TIME"]]:
        state[S["PENDING_INBOUND_TIME"]] = 0.0
