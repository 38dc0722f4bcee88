"""Tiers and trend: the product's policy on top of a model's scores (docs/model.md, "Tiers").

A model supplies a calibrated score; which tier a score means, the rules that
override it (no exchange at all, a contact who never engaged, the owner's own
label) and whether a tie is strengthening or cooling are decisions about the
product, not about the estimator, so they live here and every model shares them.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from scoring_service.features.owner_context import contact_engaged
from scoring_service.features.state import DAY, HALF_LIVES_DAYS, FloatArray, S, decayed_total
from vinculo.v1 import events_pb2 as events
from vinculo.v1 import scoring_pb2 as pb

# Calibrated probability that the pair interacts again in the coming window (90 days
# for the shipped default model). Lower bounds of each tier; a model may store its own.
DEFAULT_TIER_THRESHOLDS: dict[str, float] = {
    "acquaintance": 0.08,
    "relationship": 0.5,
    "close": 0.8,
}
FEEDBACK_TIER = {
    events.FEEDBACK_LABEL_CLOSE: events.TIER_CLOSE,
    events.FEEDBACK_LABEL_RELATIONSHIP: events.TIER_RELATIONSHIP,
    events.FEEDBACK_LABEL_ACQUAINTANCE: events.TIER_ACQUAINTANCE,
    events.FEEDBACK_LABEL_NOT_KNOWN: events.TIER_CONTACT,
}
# Trend: recent rate (30-day half-life) against the tie's long-run rate (365 days).
TREND_UP, TREND_DOWN = 1.5, 0.5
TREND_DAYS = (30.0, 365.0)  # the two horizons compared


def assign_tiers(
    scores: FloatArray, states: FloatArray, thresholds: dict[str, float]
) -> npt.NDArray[np.int64]:
    """Proto `Tier` values from the thresholds, then two rules and the owner's label.

    Rules: no interaction at all -> contact; the contact never engaged (no
    inbound exchange, no call or meeting) -> at most acquaintance. The owner's
    explicit feedback overrides everything (NOT_KNOWN -> contact).
    """
    tiers = np.full(len(scores), events.TIER_CONTACT, dtype=np.int64)
    tiers[scores >= thresholds["acquaintance"]] = events.TIER_ACQUAINTANCE
    tiers[scores >= thresholds["relationship"]] = events.TIER_RELATIONSHIP
    tiers[scores >= thresholds["close"]] = events.TIER_CLOSE
    engaged = contact_engaged(states)
    tiers[~engaged] = np.minimum(tiers[~engaged], events.TIER_ACQUAINTANCE)
    tiers[states[:, S["EVENT_COUNT"]] == 0] = events.TIER_CONTACT
    label = states[:, S["FEEDBACK_LABEL"]].astype(np.int64)
    for feedback, tier in FEEDBACK_TIER.items():
        tiers[label == feedback] = tier
    return tiers


def trends(states: FloatArray, as_of: float) -> npt.NDArray[np.int64]:
    """Proto `Trend` values: the last month's rate of exchange against the last year's.

    The state cannot be read 30 days back (the last month's events are folded
    into the sums), but it holds rates at two horizons. A constant rate r
    since the tie began (age A) gives a decayed sum r * (h / ln 2) * (1 - 2^(-A/h))
    at half-life h, so dividing by that window gives an unbiased rate per
    horizon, also for ties younger than a year; a brand-new tie reads steady.
    """
    first = states[:, S["FIRST_TIME"]]
    age = np.where(first > 0, np.maximum(as_of - first, 0.0), 0.0) / DAY
    counts = {d: decayed_total(states, as_of, HALF_LIVES_DAYS.index(d)) for d in TREND_DAYS}
    rates = []
    for days, count in counts.items():
        window = days / math.log(2) * (1.0 - np.exp2(-age / days))
        rates.append(np.where(window > 0, count / np.maximum(window, 1e-9), 0.0))
    month, year = rates
    month_count, year_count = counts[30.0], counts[365.0]
    result = np.full(len(states), pb.TREND_STEADY, dtype=np.int64)
    result[(month > TREND_UP * year) & (month_count >= 1.0)] = pb.TREND_STRENGTHENING
    result[(month < TREND_DOWN * year) & (year_count >= 2.0)] = pb.TREND_COOLING
    return result
