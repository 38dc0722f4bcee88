"""Every feature as a (name, column) pair: the one declaration of what a column is called
and how it is computed.

`named_columns` returns the pairs in `FEATURE_NAMES` order (`features.py` derives
the names from this function, so a name and its values cannot drift apart by
position). Each column is a 1-d array over the rows, computed feature-major.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from scoring_service.features.owner_context import (
    KIND_WEIGHTS,
    TWO_WAY,
    W_OTHER,
    engaged_kinds_t,
    exchange,
    own_volumes,
)
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

Column = tuple[str, FloatArray]

# Recency of a tie with no such event: ten years, "never" for any model.
NEVER_DAYS = 3650.0
_ENGAGED_RANK = np.arange(1, N_KINDS + 1, dtype=np.float64)
_H = tuple(int(h) for h in HALF_LIVES_DAYS)
_KINDS = [KIND_NAMES[Kind(k)] for k in range(N_KINDS)]
_FEEDBACK = (
    ("close", pb.FEEDBACK_LABEL_CLOSE),
    ("relationship", pb.FEEDBACK_LABEL_RELATIONSHIP),
    ("acquaintance", pb.FEEDBACK_LABEL_ACQUAINTANCE),
    ("not_known", pb.FEEDBACK_LABEL_NOT_KNOWN),
)

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


def named_columns(st: FloatArray, as_of: float, context: FloatArray) -> list[Column]:
    """Every feature of the rows of `st` (states transposed, (STATE_SIZE, n)) read as of
    `as_of`; `context` is the rows' `owner_context` transposed, (N_CONTEXT, n)."""
    n = st.shape[1]
    decayed, ex_out, ex_in = exchange(st, as_of)
    out_k, in_k = decayed[:, OUT], decayed[:, IN]  # (kinds, horizons, n)
    mutual_k = np.where(TWO_WAY[:, None, None], out_k + in_k, np.minimum(out_k, in_k))
    totals = st[TOTALS_START : TOTALS_START + TOTALS_SIZE].reshape(N_KINDS, 3, n)
    any_in = np.asarray(engaged_kinds_t(totals).any(axis=0))
    # Names formatted once (below); the blocks' rows are in the names' order (C order).
    columns = list(zip(_DECAYED_NAMES, decayed.reshape(-1, n), strict=True))
    columns += zip(_MUTUAL_NAMES, mutual_k.reshape(-1, n), strict=True)
    for names, block in zip(
        _EXCHANGE_NAMES,
        (
            ex_out,
            ex_in,
            np.minimum(ex_out, ex_in),
            np.maximum(ex_out - ex_in, 0.0),
            ex_out * any_in,
        ),
        strict=True,
    ):
        columns += zip(names, block, strict=True)
    columns += list(_scalar_columns(st, as_of, totals, any_in))
    label = st[S["FEEDBACK_LABEL"]]
    columns += [(f"feedback_{name}", (label == v).astype(np.float64)) for name, v in _FEEDBACK]
    owner = _owner_columns(st, ex_out, ex_in, any_in, context, as_of)
    columns += list(zip(OWNER_FEATURES, owner, strict=True))
    # Schema 4, last so that the earlier columns keep their places.
    days = engaged_days_columns(st, as_of)
    columns += zip(_ENGAGED_DAYS_NAMES, days, strict=True)
    return columns


_DECAYED_NAMES = tuple(f"decayed_{k}_{d}_{h}d" for k in _KINDS for d in ("out", "in") for h in _H)
_MUTUAL_NAMES = tuple(f"mutual_{k}_{h}d" for k in _KINDS for h in _H)
_EXCHANGE_NAMES = tuple(
    tuple(f"{prefix}_{h}d" for h in _H)
    for prefix in ("exchange_out", "exchange_in", "exchange_mutual", "one_sided", "engaged_out")
)
_ENGAGED_DAYS_NAMES = tuple(f"engaged_days_{h}d" for h in _H)


def _scalar_columns(
    st: FloatArray, as_of: float, totals: FloatArray, any_in: np.ndarray
) -> Iterator[Column]:
    """Totals, reciprocity, intimacy, services, duration and recency of each row."""

    def col(name: str) -> FloatArray:
        row: FloatArray = st[S[name]]
        return row

    tot_out, tot_in = totals[:, 0] + totals[:, 2], totals[:, 1] + totals[:, 2]  # (kinds, n)
    tot_out_w = KIND_WEIGHTS @ tot_out + W_OTHER @ tot_in
    tot_in_w = KIND_WEIGHTS @ tot_in + W_OTHER @ tot_out
    sent, answered, resp_n = col("OUTREACH_SENT"), col("OUTREACH_ANSWERED"), col("RESPONSE_COUNT")
    first = col("FIRST_TIME")
    age = np.where(first > 0, np.maximum(as_of - first, 0.0) / DAY, 0.0)
    # Recency of a conversation: reactions refresh none of it (state schema 4).
    talk_in, talk_out = col("LAST_TALK_IN_TIME"), col("LAST_TALK_OUT_TIME")
    yield "total_out", tot_out.sum(axis=0)
    yield "total_in", tot_in.sum(axis=0)
    yield "total_mutual", totals[:, 2].sum(axis=0)
    most = np.maximum(np.maximum(tot_out_w, tot_in_w), 1e-9)
    yield "balance", np.minimum(tot_out_w, tot_in_w) / most
    yield "reply_rate", (answered + 1.0) / (sent + 2.0)  # Laplace: one attempt says little
    yield "outreach_unanswered", np.maximum(sent - answered, 0.0)
    yield "replies_in", col("REPLIES_IN")
    mean_log = col("RESPONSE_LOG_SUM") / np.maximum(resp_n, 1.0)
    yield "response_log_seconds", np.where(resp_n > 0, mean_log, np.nan)
    yield "intimacy_max", (engaged_kinds_t(totals) * _ENGAGED_RANK[:, None]).max(axis=0)
    # Schema 5: time spent together, on calls and in person (state schema 4).
    yield "contact_seconds", col("CALL_SECONDS") + col("MEETING_SECONDS")
    yield "meetings", totals[Kind.MEETING].sum(axis=0)
    yield "services_in", totals[Kind.SERVICE, 1] + totals[Kind.SERVICE, 2]
    yield "services_out", totals[Kind.SERVICE, 0] + totals[Kind.SERVICE, 2]
    yield "tie_age_days", age
    yield "two_way_age_days", np.where(any_in, age, 0.0)
    yield "active_days", col("ACTIVE_DAYS")
    yield "active_weeks", col("ACTIVE_WEEKS")
    yield "two_way_active_weeks", np.where(any_in, col("ACTIVE_WEEKS"), 0.0)
    yield "days_since_last", days_since(col("LAST_TIME"), as_of)
    yield "days_since_last_in", days_since(talk_in, as_of)
    yield "days_since_round_trip", days_since(np.minimum(talk_in, talk_out), as_of)
    last_talk = days_since(np.maximum(talk_in, talk_out), as_of)
    yield "days_since_last_engaged", np.where(any_in, last_talk, NEVER_DAYS)
    yield "connected", col("CONNECTED")


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
    own = own_volumes(st, ex_out, ex_in, np.asarray(any_in, dtype=np.float64))
    rest = np.maximum(context[:5] - own[:5], 0.0)  # rows, engaged, mutual 30/365, in 30
    others = np.maximum(rest[0], 1.0)

    def share(i: int) -> FloatArray:
        whole = own[i] + rest[i]
        return np.where(whole > 0, own[i] / np.maximum(whole, 1e-12), 0.0)

    silence = days_since(st[S["LAST_TALK_IN_TIME"]], as_of)
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


def days_since(times: FloatArray, as_of: float) -> FloatArray:
    """Days from `times` to `as_of`; `NEVER_DAYS` where the time is unset (0)."""
    days = np.clip((as_of - times) / DAY, 0.0, NEVER_DAYS)
    return np.where(times > 0, days, NEVER_DAYS)
