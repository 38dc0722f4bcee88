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

from collections.abc import Sequence

import numpy as np

from scoring_service.features.columns import (
    NEVER_DAYS,
    OWNER_FEATURES,
    named_columns,
    selected_columns,
)
from scoring_service.features.owner_context import N_CONTEXT, owner_context, rows_last
from scoring_service.features.state import HALF_LIVES_DAYS, STATE_SIZE, FloatArray

__all__ = ["COLUMN", "FEATURE_NAMES", "MODEL_FEATURES", "NEVER_DAYS", "OWNER_FEATURES"]

# 3: owner activity as ratios, not absolute volumes; 4: engaged days;
# 5: contact_seconds (calls and meetings), recency of conversations (no reactions)
# 6: the decayed meeting counters (so `exchange_*`) weigh a meeting by its length
FEATURE_SCHEMA_VERSION = 6

# The names come from the one declaration of each column (`columns.named_columns`),
# read off an empty row: a name cannot drift from its values by position.
FEATURE_NAMES: tuple[str, ...] = tuple(
    name for name, _ in named_columns(np.zeros((STATE_SIZE, 1)), 0.0, np.zeros((N_CONTEXT, 1)))
)
COLUMN: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}
_H = tuple(int(h) for h in HALF_LIVES_DAYS)


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
        contact_seconds=1,
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
    st: FloatArray = np.ascontiguousarray(states.T)  # (STATE_SIZE, n)
    columns = named_columns(st, as_of, np.ascontiguousarray(context.T))
    x = np.empty((len(columns), states.shape[0]))
    for i, (_, values) in enumerate(columns):
        x[i] = values
    result: FloatArray = x.T
    return result


def model_columns() -> np.ndarray:
    """Indices of `MODEL_FEATURES` in a `feature_matrix` row."""
    return _MODEL_COLUMNS.copy()


_MODEL_COLUMNS = np.array([COLUMN[name] for name in MODEL_FEATURES], dtype=np.intp)


def model_input_columns(
    states: FloatArray,
    as_of: float,
    context: FloatArray | None = None,
    horizon_days: float | None = None,
    volumes: FloatArray | None = None,
) -> FloatArray:
    """The model's inputs for `states`, feature-major (F, n): the `MODEL_FEATURES` columns
    of `feature_matrix`, then `HORIZON_INPUT` when `horizon_days` is given.

    The one row builder: the service scores (`ScoringModel.score`), explanations
    perturb, and training fits and evaluates (`vinculo_apps.training.pipeline`)
    on what this returns, so a model is trained on exactly the rows it serves.
    `volumes`: the rows' `owner_context.row_volumes` (N_VOLUMES, n), if already computed.
    """
    names = model_inputs_of(horizon_days is not None)
    return input_rows(states, as_of, names, context, horizon_days, volumes)


def input_rows(
    states: FloatArray,
    as_of: float,
    names: Sequence[str],
    context: FloatArray | None = None,
    horizon_days: float | None = None,
    volumes: FloatArray | None = None,
) -> FloatArray:
    """The rows `names` (of `model_inputs_of`) of `model_input_columns`, (len(names), n):
    the same values, only those computed (a forest that splits on 27 of its 44 inputs
    is given just those 27)."""
    if context is None:
        context = owner_context(states, as_of)
    # Only the named columns are computed (`selected_columns`: the same values as
    # `feature_matrix(...).T[_MODEL_COLUMNS]`, tested), straight into the result.
    features = [name for name in names if name != HORIZON_INPUT]
    columns = iter(
        selected_columns(rows_last(states), as_of, rows_last(context), features, volumes)
    )
    xt = np.empty((len(names), states.shape[0]))
    for row, name in enumerate(names):
        if name == HORIZON_INPUT:
            if horizon_days is None:
                raise ValueError(f"{HORIZON_INPUT}: asked for without a horizon")
            xt[row] = horizon_days
        else:
            xt[row] = next(columns)
    return xt


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
