"""Model inputs computed from relationship state: the one implementation for training and serving.

`feature_matrix(states, as_of)` reads every counter "as of" the requested instant
(one multiplication per half-life, DESIGN.md decision 3) and returns one row per
relationship, fully vectorised. The columns follow Granovetter's dimensions as
Gilbert & Karahalios measured them, and RealGraph's decayed counts:

- intensity: decayed counts per intimacy class and direction at 7/30/90/365 days;
- reciprocity: mutual volume min(out, in), one-sided excess, reply rate, response time;
- intimacy: an intimacy-weighted exchange volume, the strongest class exchanged,
  call seconds, meetings in person;
- reciprocal services: endorsements, recommendations, introductions, collaborations;
- duration: age of the tie, distinct active days and weeks; recency;
- the owner's explicit feedback label (one-hot, never a model input: it is a label).

Real data rarely holds every event type, so the pooled `exchange_*` columns weigh
each intimacy class (`KIND_WEIGHTS`): a model that only ever saw messages learns
"more weighted exchange is stronger" and scores a call or a meeting through the
same column. `MONOTONIC` lists the columns the model may use with the sign they
must act in; every column a contact's engagement can move is non-decreasing in
engagement, and nothing the owner alone does can raise a score (one-sided
outreach only moves `one_sided_*` and `outreach_unanswered`, both -1).
"""

from __future__ import annotations

import numpy as np

from scoring_service.features.state import (
    DAY,
    HALF_LIVES_DAYS,
    IN,
    N_KINDS,
    OUT,
    TOTALS_SIZE,
    TOTALS_START,
    FloatArray,
    S,
    decayed_columns,
)
from vinculo.domain import KIND_NAMES, Kind
from vinculo.v1 import events_pb2 as pb

FEATURE_SCHEMA_VERSION = 1

# Intimacy of each class relative to a private message (DOMAIN.md: reaction <
# comment < private message < call/video < meeting in person; services apart).
KIND_WEIGHTS = np.array([0.25, 0.5, 1.0, 2.0, 4.0, 3.0])
# Classes where both people take part whoever started it: an answered call is a
# conversation, a meeting is mutual. They count on both sides of the exchange.
TWO_WAY_KINDS = (Kind.CALL, Kind.MEETING)
# Recency of a tie with no such event: ten years, "never" for any model.
NEVER_DAYS = 3650.0

_H = tuple(int(h) for h in HALF_LIVES_DAYS)
_KINDS = [KIND_NAMES[Kind(k)] for k in range(N_KINDS)]
_FEEDBACK = ("close", "relationship", "acquaintance", "not_known")


def _names() -> tuple[str, ...]:
    names = [f"decayed_{k}_{d}_{h}d" for k in _KINDS for d in ("out", "in") for h in _H]
    names += [f"mutual_{k}_{h}d" for k in _KINDS for h in _H]
    for prefix in ("exchange_out", "exchange_in", "exchange_mutual", "one_sided", "engaged_out"):
        names += [f"{prefix}_{h}d" for h in _H]
    names += [
        "total_out",
        "total_in",
        "total_mutual",
        "balance",
        "reply_rate",
        "outreach_unanswered",
        "replies_in",
        "response_log_seconds",
        "intimacy_max",
        "call_seconds",
        "meetings",
        "services_in",
        "services_out",
        "tie_age_days",
        "two_way_age_days",
        "active_days",
        "active_weeks",
        "two_way_active_weeks",
        "days_since_last",
        "days_since_last_in",
        "days_since_round_trip",
        "days_since_last_engaged",
        "connected",
    ]
    names += [f"feedback_{label}" for label in _FEEDBACK]
    return tuple(names)


FEATURE_NAMES: tuple[str, ...] = _names()
COLUMN: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}


def _monotonic() -> dict[str, int]:
    """Columns a model may use, with the direction each must act in (+1 up, -1 down)."""
    signs: dict[str, int] = {}
    for k in _KINDS:
        for h in _H:
            signs[f"decayed_{k}_in_{h}d"] = 1
            signs[f"mutual_{k}_{h}d"] = 1
    for h in _H:
        signs[f"exchange_in_{h}d"] = 1
        signs[f"exchange_mutual_{h}d"] = 1
        signs[f"one_sided_{h}d"] = -1
        signs[f"engaged_out_{h}d"] = 1
    signs.update(
        total_in=1,
        total_mutual=1,
        reply_rate=1,
        outreach_unanswered=-1,
        replies_in=1,
        intimacy_max=1,
        call_seconds=1,
        meetings=1,
        services_in=1,
        two_way_age_days=1,
        two_way_active_weeks=1,
        days_since_last_in=-1,
        days_since_round_trip=-1,
        days_since_last_engaged=-1,
    )
    return signs


# `engaged_out_*` and `days_since_last_engaged` count the owner's own activity
# only once the contact has taken part (else they read 0 / never): the owner's
# constancy matters in a two-way tie, while outreach to someone who never
# answered moves nothing but the -1 columns.
# Left out on purpose: raw outbound columns (the owner alone must not raise a
# score), `balance` and `response_log_seconds` (a slow or surplus reply would
# lower them, and adding a reply must never lower a score), tie age and active
# periods counted from one-sided events, and the feedback label (it is a label).
MONOTONIC: dict[str, int] = _monotonic()
MODEL_FEATURES: tuple[str, ...] = tuple(n for n in FEATURE_NAMES if n in MONOTONIC)


_TWO_WAY = np.isin(np.arange(N_KINDS), TWO_WAY_KINDS)
_W_OTHER = KIND_WEIGHTS * _TWO_WAY  # two-way classes count on the other side too
_ENGAGED_RANK = np.arange(1, N_KINDS + 1, dtype=np.float64)


def feature_matrix(states: FloatArray, as_of: float) -> FloatArray:
    """One row of `FEATURE_NAMES` per state, every counter read as of `as_of` (unix seconds).

    Computed feature-major (rows on the last axis, where numpy loops fast) and
    returned as the transposed, Fortran-ordered (n, F) view.
    """
    n = states.shape[0]
    st: FloatArray = np.ascontiguousarray(states.T)  # (STATE_SIZE, n)
    x = np.empty((len(FEATURE_NAMES), n))
    decayed = decayed_columns(st, as_of)  # (kinds, dirs, horizons, n)
    out_k, in_k = decayed[:, OUT], decayed[:, IN]  # (kinds, horizons, n)
    flat_out, flat_in = out_k.reshape(N_KINDS, -1), in_k.reshape(N_KINDS, -1)
    ex_out = (KIND_WEIGHTS @ flat_out + _W_OTHER @ flat_in).reshape(-1, n)  # (horizons, n)
    ex_in = (KIND_WEIGHTS @ flat_in + _W_OTHER @ flat_out).reshape(-1, n)
    two_way = _TWO_WAY[:, None, None]
    mutual_k = np.where(two_way, out_k + in_k, np.minimum(out_k, in_k))

    totals = st[TOTALS_START : TOTALS_START + TOTALS_SIZE].reshape(N_KINDS, 3, n)
    tot_out, tot_in = totals[:, 0] + totals[:, 2], totals[:, 1] + totals[:, 2]  # (kinds, n)
    tot_out_w = KIND_WEIGHTS @ tot_out + _W_OTHER @ tot_in
    tot_in_w = KIND_WEIGHTS @ tot_in + _W_OTHER @ tot_out
    engaged = _engaged_kinds_t(totals)
    any_in = engaged.any(axis=0)

    def col(name: str) -> FloatArray:
        row: FloatArray = st[S[name]]
        return row

    sent, answered, resp_n = col("OUTREACH_SENT"), col("OUTREACH_ANSWERED"), col("RESPONSE_COUNT")
    first = col("FIRST_TIME")
    age = np.where(first > 0, np.maximum(as_of - first, 0.0) / DAY, 0.0)
    blocks = [
        decayed.reshape(-1, n),
        mutual_k.reshape(-1, n),
        ex_out,
        ex_in,
        np.minimum(ex_out, ex_in),
        np.maximum(ex_out - ex_in, 0.0),
        ex_out * any_in,
    ]
    at = 0
    for block in blocks:
        x[at : at + len(block)] = block
        at += len(block)
    label = col("FEEDBACK_LABEL")
    scalars = [
        tot_out.sum(axis=0),
        tot_in.sum(axis=0),
        totals[:, 2].sum(axis=0),
        np.minimum(tot_out_w, tot_in_w) / np.maximum(np.maximum(tot_out_w, tot_in_w), 1e-9),
        (answered + 1.0) / (sent + 2.0),  # Laplace: one attempt says little
        np.maximum(sent - answered, 0.0),
        col("REPLIES_IN"),
        np.where(resp_n > 0, col("RESPONSE_LOG_SUM") / np.maximum(resp_n, 1.0), np.nan),
        (engaged * _ENGAGED_RANK[:, None]).max(axis=0),
        col("CALL_SECONDS"),
        totals[Kind.MEETING].sum(axis=0),
        totals[Kind.SERVICE, 1] + totals[Kind.SERVICE, 2],
        totals[Kind.SERVICE, 0] + totals[Kind.SERVICE, 2],
        age,
        np.where(any_in, age, 0.0),
        col("ACTIVE_DAYS"),
        col("ACTIVE_WEEKS"),
        np.where(any_in, col("ACTIVE_WEEKS"), 0.0),
        _days_since(col("LAST_TIME"), as_of),
        _days_since(col("LAST_IN_TIME"), as_of),
        _days_since(np.minimum(col("LAST_IN_TIME"), col("LAST_OUT_TIME")), as_of),
        np.where(any_in, _days_since(col("LAST_TIME"), as_of), NEVER_DAYS),
        col("CONNECTED"),
        *[(label == v).astype(np.float64) for v in _feedback_values()],
    ]
    x[at:] = scalars
    result: FloatArray = x.T
    return result


def _engaged_kinds_t(totals: FloatArray) -> np.ndarray:
    """(kinds, n): the contact took part in this class (inbound, mutual, or a two-way class)."""
    inbound = totals[:, 1] + totals[:, 2]
    return np.where(_TWO_WAY[:, None], inbound + totals[:, 0], inbound) > 0


def contact_engaged(states: FloatArray) -> np.ndarray:
    """True where the contact ever took part: an inbound exchange, a call or a meeting."""
    n = states.shape[0]
    totals = np.ascontiguousarray(states[:, TOTALS_START : TOTALS_START + TOTALS_SIZE].T)
    return np.asarray(_engaged_kinds_t(totals.reshape(N_KINDS, 3, n)).any(axis=0))


def _days_since(times: FloatArray, as_of: float) -> FloatArray:
    """Days from `times` to `as_of`; `NEVER_DAYS` where the time is unset (0)."""
    days = np.clip((as_of - times) / DAY, 0.0, NEVER_DAYS)
    return np.where(times > 0, days, NEVER_DAYS)


def _feedback_values() -> tuple[int, ...]:
    return (
        pb.FEEDBACK_LABEL_CLOSE,
        pb.FEEDBACK_LABEL_RELATIONSHIP,
        pb.FEEDBACK_LABEL_ACQUAINTANCE,
        pb.FEEDBACK_LABEL_NOT_KNOWN,
    )


def model_columns() -> np.ndarray:
    """Indices of `MODEL_FEATURES` in a `feature_matrix` row."""
    return np.array([COLUMN[name] for name in MODEL_FEATURES], dtype=np.intp)


def monotonic_constraints() -> list[int]:
    """`monotonic_cst` for the model columns, in `MODEL_FEATURES` order."""
    return [MONOTONIC[name] for name in MODEL_FEATURES]
