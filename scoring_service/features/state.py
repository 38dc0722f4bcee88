"""Per-relationship state: one float64 vector per (owner, contact).

Counters are exponentially decayed sums kept "as of" a reference time
(`REF_TIME`); reading them as of a later instant is one multiplication per
half-life (decision 3, docs/decisions/). An event older than the reference time is
added with its own decay factor, so the decayed sums do not depend on the
order events arrive in.

The same vector feeds the scoring service and training: `fold.fold` is the
only code that turns events into state, and `features.feature_matrix` the only
code that turns state into model inputs. Changing the layout means bumping
`STATE_SCHEMA_VERSION` (stored rows of another version are rebuilt from the
log, never misread).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from vinculo.domain import Kind

# 2: VIDEO_CALLS, for the funnel's "met in person or by video"
# 3: ENGAGED_DAYS, decayed distinct days the contact took part on
# 4: MEETING_SECONDS, LAST_TALK_*_TIME; reactions open no engaged or active period
# 5: a meeting adds a duration-dependent amount to the decayed counters (fold.amounts)
STATE_SCHEMA_VERSION = 5

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
# then scalars, then ENGAGED_DAYS[horizon], then MEETING_EXTRA[horizon]. Offsets are
# module constants so vectorised code can slice.
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
    # Schema 3. Periods are counted when later or earlier than every one counted
    # before, so a history sent oldest-first or newest-first counts the same.
    "FIRST_ACTIVE_DAY",  # day index + 1, 0 if none
    "FIRST_ACTIVE_WEEK",
    "FIRST_ENGAGED_DAY",
    "LAST_ENGAGED_DAY",
    # Schema 4: time met in person, as CALL_SECONDS is time on calls. A meeting used
    # to count once whatever its length (issue 15: 90 minutes in person scored below
    # five reactions).
    "MEETING_SECONDS",
    # Schema 4: LAST_OUT_TIME and LAST_IN_TIME without reactions, for recency features:
    # a click two days ago is not a conversation two days ago.
    "LAST_TALK_OUT_TIME",
    "LAST_TALK_IN_TIME",
)
SCALARS_START = TOTALS_START + TOTALS_SIZE
S: dict[str, int] = {name: SCALARS_START + i for i, name in enumerate(_SCALARS)}
# Decayed count of distinct days on which the contact took part (sent something,
# or a call or meeting happened), one per half-life, kept as of REF_TIME like the
# DECAYED block: a habit of talking on many days, not the volume of one burst.
ENGAGED_DAYS_START = SCALARS_START + len(_SCALARS)
# Schema 5: what meetings add to the weighted exchange beyond one each, for their
# length (`fold.meeting_amounts`), decayed and kept as of REF_TIME like the DECAYED
# block. The DECAYED block still counts events (baselines, explanations and trends
# read counts); only `owner_context.exchange` adds this block, at the meeting weight.
MEETING_EXTRA_START = ENGAGED_DAYS_START + N_HORIZONS
STATE_SIZE = MEETING_EXTRA_START + N_HORIZONS

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
    counts: FloatArray = block * _read_factors(states_t, as_of)  # broadcast over kinds, dirs
    return counts


def engaged_days_columns(states_t: FloatArray, as_of: float) -> FloatArray:
    """ENGAGED_DAYS of `states.T` read at `as_of`: shape (horizons, n)."""
    block = states_t[ENGAGED_DAYS_START:MEETING_EXTRA_START]
    days: FloatArray = block * _read_factors(states_t, as_of)
    return days


def meeting_extra_columns(states_t: FloatArray, as_of: float) -> FloatArray:
    """MEETING_EXTRA of `states.T` read at `as_of`: shape (horizons, n)."""
    block = states_t[MEETING_EXTRA_START:STATE_SIZE]
    extra: FloatArray = block * _read_factors(states_t, as_of)
    return extra


def _read_factors(states_t: FloatArray, as_of: float) -> FloatArray:
    """Decay from each row's REF_TIME to `as_of`: shape (horizons, n)."""
    elapsed = np.maximum(as_of - states_t[REF_TIME], 0.0)
    factors: FloatArray = np.exp(-_LN2 * elapsed / _HALF_LIVES_S[:, None])
    return factors


def decayed_total(states: FloatArray, as_of: float, horizon: int) -> FloatArray:
    """Every decayed counter of each row at one horizon, read at `as_of` and summed:
    `decayed_counts(states, as_of).sum(axis=(1, 2))[:, horizon]`, bit for bit (the
    same products, added in the same order, kind by kind and direction by direction),
    without its (n, kinds, dirs, horizons) temporary: 11.5 MB at 30,000 rows, above
    the scoring service's mmap threshold, so faulted in afresh by every read of it."""
    states_t = states.T
    elapsed = np.maximum(as_of - states_t[REF_TIME], 0.0)
    factor = np.exp(-_LN2 * elapsed / _HALF_LIVES_S[horizon])  # `_read_factors`' row
    total: FloatArray = states_t[decayed_index(0, 0, horizon)] * factor
    for kind in range(N_KINDS):
        for direction in range(N_DIRS):
            if kind or direction:
                total += states_t[decayed_index(kind, direction, horizon)] * factor
    return total
