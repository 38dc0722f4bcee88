"""Every feature as a (name, column) pair: the one declaration of what a column is called
and how it is computed.

`named_columns` returns the pairs in `FEATURE_NAMES` order (`features.py` derives
the names from this function, so a name and its values cannot drift apart by
position). Each column is a 1-d array over the rows, computed feature-major.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property

import numpy as np

from scoring_service.features.owner_context import (
    KIND_WEIGHTS,
    TWO_WAY,
    VOLUMES_EX_IN,
    VOLUMES_EX_OUT,
    VOLUMES_OWN,
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
ColumnOf = Callable[["Rows"], FloatArray]

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
    rows = Rows(st, as_of, context)
    return [(name, compute(rows)) for name, compute in COLUMNS]


def selected_columns(
    st: FloatArray,
    as_of: float,
    context: FloatArray,
    names: Sequence[str],
    volumes: FloatArray | None = None,
) -> list[FloatArray]:
    """Only the columns `names` of `named_columns`, the same values: the intermediate
    blocks a column needs are computed once, the ones no named column needs not at all
    (the model reads 43 of the 134 columns: about half the CPU of all of them).
    `volumes`: the rows' `owner_context.row_volumes`, (N_VOLUMES, n), when the context
    pass computed them already (their exchange is then not computed again)."""
    rows = Rows(st, as_of, context, volumes)
    return [_BY_NAME[name](rows) for name in names]


class Rows:
    """The rows' intermediate blocks, each computed when a column first needs it."""

    def __init__(
        self, st: FloatArray, as_of: float, context: FloatArray, volumes: FloatArray | None = None
    ) -> None:
        self.st, self.as_of, self.context, self.n = st, as_of, context, st.shape[1]
        self.volumes = volumes

    def col(self, name: str) -> FloatArray:
        row: FloatArray = self.st[S[name]]
        return row

    @cached_property
    def exchange(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        return exchange(self.st, self.as_of)

    @cached_property
    def ex_out_in(self) -> tuple[FloatArray, FloatArray]:
        """Weighted exchange out and in, (horizons, n) each."""
        if self.volumes is not None:
            return self.volumes[VOLUMES_EX_OUT], self.volumes[VOLUMES_EX_IN]
        _, ex_out, ex_in = self.exchange
        return ex_out, ex_in

    @cached_property
    def mutual_k(self) -> FloatArray:
        decayed = self.exchange[0]
        out_k, in_k = decayed[:, OUT], decayed[:, IN]  # (kinds, horizons, n)
        mutual: FloatArray = np.where(TWO_WAY[:, None, None], out_k + in_k, np.minimum(out_k, in_k))
        return mutual

    @cached_property
    def exchange_blocks(self) -> dict[str, FloatArray]:
        ex_out, ex_in = self.ex_out_in
        return {
            "exchange_out": ex_out,
            "exchange_in": ex_in,
            "exchange_mutual": np.minimum(ex_out, ex_in),
            "one_sided": np.maximum(ex_out - ex_in, 0.0),
            "engaged_out": ex_out * self.any_in,
        }

    @cached_property
    def totals(self) -> FloatArray:
        totals: FloatArray = self.st[TOTALS_START : TOTALS_START + TOTALS_SIZE].reshape(
            N_KINDS, 3, self.n
        )
        return totals

    @cached_property
    def engaged_kinds(self) -> np.ndarray:
        return engaged_kinds_t(self.totals)

    @cached_property
    def any_in(self) -> np.ndarray:
        return np.asarray(self.engaged_kinds.any(axis=0))

    @cached_property
    def tot_out(self) -> FloatArray:
        out: FloatArray = self.totals[:, 0] + self.totals[:, 2]  # (kinds, n)
        return out

    @cached_property
    def tot_in(self) -> FloatArray:
        inbound: FloatArray = self.totals[:, 1] + self.totals[:, 2]
        return inbound

    @cached_property
    def age(self) -> FloatArray:
        first = self.col("FIRST_TIME")
        age: FloatArray = np.where(first > 0, np.maximum(self.as_of - first, 0.0) / DAY, 0.0)
        return age

    @cached_property
    def own(self) -> FloatArray:
        if self.volumes is not None:
            own: FloatArray = self.volumes[VOLUMES_OWN]
            return own
        ex_out, ex_in = self.ex_out_in
        return own_volumes(self.st, ex_out, ex_in, np.asarray(self.any_in, dtype=np.float64))

    @cached_property
    def rest(self) -> FloatArray:
        """The owner's totals without the row: rows, engaged, mutual 30/365, in 30."""
        rest: FloatArray = np.maximum(self.context[:5] - self.own[:5], 0.0)
        return rest

    @cached_property
    def others(self) -> FloatArray:
        others: FloatArray = np.maximum(self.rest[0], 1.0)
        return others

    def share(self, i: int) -> FloatArray:
        own, rest = self.own, self.rest
        whole = own[i] + rest[i]
        share: FloatArray = np.where(whole > 0, own[i] / np.maximum(whole, 1e-12), 0.0)
        return share

    @cached_property
    def engaged_days(self) -> FloatArray:
        return engaged_days_columns(self.st, self.as_of)


def _decayed(k: int, d: int, h: int) -> ColumnOf:
    return lambda r: r.exchange[0][k, d, h]


def _mutual(k: int, h: int) -> ColumnOf:
    return lambda r: r.mutual_k[k, h]


def _block(prefix: str, h: int) -> ColumnOf:
    return lambda r: r.exchange_blocks[prefix][h]


def _state_column(name: str) -> ColumnOf:
    return lambda r: r.col(name)


def _feedback(value: int) -> ColumnOf:
    return lambda r: (r.col("FEEDBACK_LABEL") == value).astype(np.float64)


def _engaged_days(h: int) -> ColumnOf:
    return lambda r: r.engaged_days[h]


def _tot_out_w(r: Rows) -> FloatArray:
    weighted: FloatArray = KIND_WEIGHTS @ r.tot_out + W_OTHER @ r.tot_in
    return weighted


def _tot_in_w(r: Rows) -> FloatArray:
    weighted: FloatArray = KIND_WEIGHTS @ r.tot_in + W_OTHER @ r.tot_out
    return weighted


def _balance(r: Rows) -> FloatArray:
    out_w, in_w = _tot_out_w(r), _tot_in_w(r)
    most = np.maximum(np.maximum(out_w, in_w), 1e-9)
    balance: FloatArray = np.minimum(out_w, in_w) / most
    return balance


def _response_log_seconds(r: Rows) -> FloatArray:
    resp_n = r.col("RESPONSE_COUNT")
    mean_log = r.col("RESPONSE_LOG_SUM") / np.maximum(resp_n, 1.0)
    seconds: FloatArray = np.where(resp_n > 0, mean_log, np.nan)
    return seconds


def _days_since_last_engaged(r: Rows) -> FloatArray:
    talk_in, talk_out = r.col("LAST_TALK_IN_TIME"), r.col("LAST_TALK_OUT_TIME")
    last_talk = days_since(np.maximum(talk_in, talk_out), r.as_of)
    days: FloatArray = np.where(r.any_in, last_talk, NEVER_DAYS)
    return days


# Totals, reciprocity, intimacy, services, duration and recency of each row.
# Recency of a conversation: reactions refresh none of it (state schema 4).
_SCALARS: tuple[tuple[str, ColumnOf], ...] = (
    ("total_out", lambda r: r.tot_out.sum(axis=0)),
    ("total_in", lambda r: r.tot_in.sum(axis=0)),
    ("total_mutual", lambda r: r.totals[:, 2].sum(axis=0)),
    ("balance", _balance),
    # Laplace: one attempt says little
    ("reply_rate", lambda r: (r.col("OUTREACH_ANSWERED") + 1.0) / (r.col("OUTREACH_SENT") + 2.0)),
    (
        "outreach_unanswered",
        lambda r: np.maximum(r.col("OUTREACH_SENT") - r.col("OUTREACH_ANSWERED"), 0.0),
    ),
    ("replies_in", _state_column("REPLIES_IN")),
    ("response_log_seconds", _response_log_seconds),
    ("intimacy_max", lambda r: (r.engaged_kinds * _ENGAGED_RANK[:, None]).max(axis=0)),
    # Schema 5: time spent together, on calls and in person (state schema 4).
    ("contact_seconds", lambda r: r.col("CALL_SECONDS") + r.col("MEETING_SECONDS")),
    ("meetings", lambda r: r.totals[Kind.MEETING].sum(axis=0)),
    ("services_in", lambda r: r.totals[Kind.SERVICE, 1] + r.totals[Kind.SERVICE, 2]),
    ("services_out", lambda r: r.totals[Kind.SERVICE, 0] + r.totals[Kind.SERVICE, 2]),
    ("tie_age_days", lambda r: r.age),
    ("two_way_age_days", lambda r: np.where(r.any_in, r.age, 0.0)),
    ("active_days", _state_column("ACTIVE_DAYS")),
    ("active_weeks", _state_column("ACTIVE_WEEKS")),
    ("two_way_active_weeks", lambda r: np.where(r.any_in, r.col("ACTIVE_WEEKS"), 0.0)),
    ("days_since_last", lambda r: days_since(r.col("LAST_TIME"), r.as_of)),
    ("days_since_last_in", lambda r: days_since(r.col("LAST_TALK_IN_TIME"), r.as_of)),
    (
        "days_since_round_trip",
        lambda r: days_since(
            np.minimum(r.col("LAST_TALK_IN_TIME"), r.col("LAST_TALK_OUT_TIME")), r.as_of
        ),
    ),
    ("days_since_last_engaged", _days_since_last_engaged),
    ("connected", _state_column("CONNECTED")),
)

# `OWNER_FEATURES` from the row and its owner's totals, the row itself left out. The
# rest of the network is fixed when this tie changes, so each share and rank only
# grows with the contact's engagement (the signs in `MONOTONIC`).
_OWNER: tuple[ColumnOf, ...] = (
    lambda r: r.share(2),
    lambda r: r.share(3),
    lambda r: r.share(4),
    lambda r: r.context[5] / r.others,
    lambda r: np.where(r.own[6] > 0, r.context[6] / r.others, 0.0),
    lambda r: days_since(r.col("LAST_TALK_IN_TIME"), r.as_of) * r.rest[4] / 30.0,
    lambda r: r.rest[1],
    lambda r: r.rest[2],
    lambda r: r.rest[4],
    lambda r: np.where(r.rest[3] > 0, r.rest[2] / np.maximum(r.rest[3], 1e-12), 0.0),
    lambda r: r.rest[4] / np.maximum(r.rest[1], 1.0),
)

_EXCHANGE_PREFIXES = ("exchange_out", "exchange_in", "exchange_mutual", "one_sided", "engaged_out")

# Every column in `FEATURE_NAMES` order: the decayed block, the mutual block, the
# exchange blocks, the scalars, the feedback label, the owner columns, then (schema 4,
# last so that the earlier columns keep their places) the engaged days.
COLUMNS: tuple[tuple[str, ColumnOf], ...] = (
    *(
        (f"decayed_{kind}_{d}_{h}d", _decayed(k, di, hi))
        for k, kind in enumerate(_KINDS)
        for di, d in enumerate(("out", "in"))
        for hi, h in enumerate(_H)
    ),
    *(
        (f"mutual_{kind}_{h}d", _mutual(k, hi))
        for k, kind in enumerate(_KINDS)
        for hi, h in enumerate(_H)
    ),
    *(
        (f"{prefix}_{h}d", _block(prefix, hi))
        for prefix in _EXCHANGE_PREFIXES
        for hi, h in enumerate(_H)
    ),
    *_SCALARS,
    *((f"feedback_{name}", _feedback(v)) for name, v in _FEEDBACK),
    *zip(OWNER_FEATURES, _OWNER, strict=True),
    *((f"engaged_days_{h}d", _engaged_days(hi)) for hi, h in enumerate(_H)),
)
_BY_NAME: dict[str, ColumnOf] = dict(COLUMNS)


def days_since(times: FloatArray, as_of: float) -> FloatArray:
    """Days from `times` to `as_of`; `NEVER_DAYS` where the time is unset (0)."""
    days = np.clip((as_of - times) / DAY, 0.0, NEVER_DAYS)
    return np.where(times > 0, days, NEVER_DAYS)
