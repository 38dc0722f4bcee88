"""Model inputs computed from relationship state: the one implementation for training and serving.

`feature_matrix(states, as_of)` reads every counter "as of" the requested instant
(one multiplication per half-life, decision 3 (docs/decisions/)) and returns one row per
relationship, fully vectorised. The columns follow Granovetter's dimensions as
Gilbert & Karahalios measured them, and RealGraph's decayed counts:

- intensity: decayed counts per intimacy class and direction at 7/30/90/365 days;
- reciprocity: mutual volume min(out, in), one-sided excess, reply rate, response time;
- intimacy: an intimacy-weighted exchange volume, the strongest class exchanged,
  call seconds, meetings in person;
- reciprocal services: endorsements, recommendations, introductions, collaborations;
- duration: age of the tie, distinct active days and weeks; recency;
- habit (schema 4): decayed counts of distinct days the contact took part on;
- the owner's explicit feedback label (one-hot, never a model input: it is a label);
- owner context (schema 2): this tie against the rest of the owner's network, as
  RealGraph and link prediction use it -- the tie's share of the owner's
  reciprocated and inbound exchange, its rank among the owner's ties by
  reciprocated volume and by last inbound contact, its silence measured in the
  owner's typical gap between hearing from people, and the owner's activity
  elsewhere (schema 3: as ratios of the owner's own activity; only pooled
  exchange columns, not per-kind ones, are model inputs). `owner_context` sums
  the owner's network once; `feature_matrix` takes each row's context and
  leaves the row itself out, so a row scores the same alone or in its network
  as long as it gets its network's context.

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

from scoring_service.features.owner_context import (
    KIND_WEIGHTS,
    owner_context,
)
from scoring_service.features.owner_context import TWO_WAY as _TWO_WAY
from scoring_service.features.owner_context import W_OTHER as _W_OTHER
from scoring_service.features.owner_context import engaged_kinds_t as _engaged_kinds_t
from scoring_service.features.owner_context import exchange as _exchange
from scoring_service.features.owner_context import own_volumes as _own_volumes
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
    engaged_days_columns,
)
from vinculo.domain import KIND_NAMES, Kind
from vinculo.v1 import events_pb2 as pb

# 3: owner activity as ratios, not absolute volumes; 4: engaged days
FEATURE_SCHEMA_VERSION = 4

# Recency of a tie with no such event: ten years, "never" for any model.
NEVER_DAYS = 3650.0
_ENGAGED_RANK = np.arange(1, N_KINDS + 1, dtype=np.float64)

_H = tuple(int(h) for h in HALF_LIVES_DAYS)
_KINDS = [KIND_NAMES[Kind(k)] for k in range(N_KINDS)]
_FEEDBACK = ("close", "relationship", "acquaintance", "not_known")


# Owner-relative columns (schema 2), each computed leave-one-out from `owner_context`.
# Only the contacts' engagement (inbound and reciprocated exchange, last inbound
# time) enters the owner's aggregates: the owner's outreach, to this contact or
# to anyone else, moves none of them.
OWNER_FEATURES: tuple[str, ...] = (
    "share_mutual_30d",  # this tie's share of the owner's reciprocated exchange
    "share_mutual_365d",
    "share_in_30d",  # its share of what the owner receives
    "rank_mutual_90d",  # fraction of the owner's other ties with less reciprocated exchange
    "rank_last_in",  # fraction of the owner's other ties heard from less recently
    "relative_silence",  # days since last heard from, times the owner's inbound rate elsewhere
    "owner_engaged_contacts",  # the owner's other ties where the contact took part
    "owner_mutual_30d",  # the owner's reciprocated exchange with everyone else
    "owner_in_30d",  # what the owner received from everyone else
    # Schema 3: the owner's activity relative to itself. The absolute volumes above
    # shift between windows (a log's busy first weeks), so the model reads these instead.
    "owner_mutual_30d_of_365d",  # the owner's reciprocated exchange elsewhere: 30-day / 365-day
    "owner_in_30d_per_contact",  # received elsewhere in 30 days, per other engaged tie
)


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
    names += list(OWNER_FEATURES)
    # Schema 4, last so that the earlier columns keep their places.
    names += [f"engaged_days_{h}d" for h in _H]
    return tuple(names)


FEATURE_NAMES: tuple[str, ...] = _names()
COLUMN: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}


def _monotonic() -> dict[str, int]:
    """Columns a model may use, with the direction each must act in (+1 up, -1 down)."""
    # Schema 3: the per-kind `decayed_{kind}_*` and `mutual_{kind}_*` columns are no
    # longer inputs. On data with one kind (messages) they tie with the pooled
    # `exchange_*` columns, the trees took them, and a meeting or call then moved
    # the score only through the few pooled splits left; with the pooled columns
    # alone every class counts at its intimacy weight (validation: equal within
    # 0.001 mean AUC, docs/model.md).
    signs: dict[str, int] = {}
    for h in _H:
        signs[f"exchange_in_{h}d"] = 1
        signs[f"exchange_mutual_{h}d"] = 1
        signs[f"one_sided_{h}d"] = -1
        signs[f"engaged_out_{h}d"] = 1
        # Days the contact took part on (schema 4): a habit of talking on many
        # days predicts the next contact better than one burst's volume
        # (validation, docs/model.md); the owner's outreach moves none of them.
        signs[f"engaged_days_{h}d"] = 1
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
        share_mutual_30d=1,
        share_mutual_365d=1,
        share_in_30d=1,
        rank_mutual_90d=1,
        rank_last_in=1,
        relative_silence=-1,
        # Context a contact's own engagement cannot move (leave-one-out): unconstrained.
        # The absolute `owner_mutual_30d` and `owner_in_30d` are not inputs (schema 3):
        # chosen on the validation window, the ratios below generalise across windows.
        owner_engaged_contacts=0,
        owner_mutual_30d_of_365d=0,
        owner_in_30d_per_contact=0,
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


def feature_matrix(
    states: FloatArray, as_of: float, context: FloatArray | None = None
) -> FloatArray:
    """One row of `FEATURE_NAMES` per state, every counter read as of `as_of` (unix seconds).

    `context` is each row's `owner_context`; without it the rows are taken as
    one owner's whole network. Computed feature-major (rows on the last axis,
    where numpy loops fast) and returned as the transposed (n, F) view.
    """
    if context is None:
        context = owner_context(states, as_of)
    n = states.shape[0]
    st: FloatArray = np.ascontiguousarray(states.T)  # (STATE_SIZE, n)
    x = np.empty((len(FEATURE_NAMES), n))
    decayed, ex_out, ex_in = _exchange(st, as_of)
    out_k, in_k = decayed[:, OUT], decayed[:, IN]  # (kinds, horizons, n)
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
    x[at : at + len(scalars)] = scalars
    at += len(scalars)
    x[at : at + len(OWNER_FEATURES)] = _owner_columns(
        st, ex_out, ex_in, np.asarray(any_in), np.ascontiguousarray(context.T), as_of
    )
    x[at + len(OWNER_FEATURES) :] = engaged_days_columns(st, as_of)
    result: FloatArray = x.T
    return result


def _owner_columns(
    st: FloatArray,
    ex_out: FloatArray,
    ex_in: FloatArray,
    any_in: np.ndarray,
    context: FloatArray,
    as_of: float,
) -> FloatArray:
    """`OWNER_FEATURES` from the row and its owner's totals, the row itself left out.

    The rest of the network is fixed when this tie changes, so each share and
    rank only grows with the contact's engagement (the signs in `MONOTONIC`).
    """
    own = _own_volumes(st, ex_out, ex_in, any_in.astype(np.float64))
    rest = np.maximum(context[:5] - own[:5], 0.0)  # rows, engaged, mutual 30/365, in 30
    others = np.maximum(rest[0], 1.0)

    def share(i: int) -> FloatArray:
        whole = own[i] + rest[i]
        return np.where(whole > 0, own[i] / np.maximum(whole, 1e-12), 0.0)

    silence = _days_since(st[S["LAST_IN_TIME"]], as_of)
    return np.stack(
        [
            share(2),
            share(3),
            share(4),
            context[5] / others,
            np.where(own[6] > 0, context[6] / others, 0.0),
            silence * rest[4] / 30.0,
            rest[1],
            rest[2],
            rest[4],
            np.where(rest[3] > 0, rest[2] / np.maximum(rest[3], 1e-12), 0.0),
            rest[4] / np.maximum(rest[1], 1.0),
        ]
    )


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


# Not read from the state: the length in days of the window the score predicts
# contact in. An input only of models trained on windows of very different lengths
# (the pooled default model; docs/model.md), non-decreasing: a longer window
# can only hold more contact.
HORIZON_INPUT = "horizon_days"


def model_inputs_of(horizon: bool) -> tuple[str, ...]:
    """The model's input columns: `MODEL_FEATURES`, then the horizon if it takes one."""
    return MODEL_FEATURES + ((HORIZON_INPUT,) if horizon else ())


def monotonic_constraints(horizon: bool = False) -> list[int]:
    """`monotonic_cst` for the model inputs, in `model_inputs_of(horizon)` order."""
    return [MONOTONIC[name] for name in MODEL_FEATURES] + ([1] if horizon else [])
