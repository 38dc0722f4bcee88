"""`tiers.trends` reads only the two horizons it compares, and gives what it gave when it
summed the whole (n, kinds, dirs, horizons) block: the same sums, bit for bit."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring_service.features.state import (
    DAY,
    HALF_LIVES_DAYS,
    REF_TIME,
    STATE_SIZE,
    FloatArray,
    S,
    decayed_counts,
    decayed_total,
)
from scoring_service.tiers import TREND_DOWN, TREND_UP, trends
from vinculo.v1 import scoring_pb2 as pb

NOW = 1_800_000_000.0


def trends_before(states: FloatArray, as_of: float) -> npt.NDArray[np.int64]:
    """`tiers.trends` as it was (session 12), over every horizon's decayed block."""
    decayed = decayed_counts(states, as_of).sum(axis=(1, 2))
    first = states[:, S["FIRST_TIME"]]
    age = np.where(first > 0, np.maximum(as_of - first, 0.0), 0.0) / DAY
    rates = []
    for days in (30.0, 365.0):
        h = HALF_LIVES_DAYS.index(days)
        window = days / math.log(2) * (1.0 - np.exp2(-age / days))
        rates.append(np.where(window > 0, decayed[:, h] / np.maximum(window, 1e-9), 0.0))
    month, year = rates
    month_count = decayed[:, HALF_LIVES_DAYS.index(30.0)]
    year_count = decayed[:, HALF_LIVES_DAYS.index(365.0)]
    result = np.full(len(states), pb.TREND_STEADY, dtype=np.int64)
    result[(month > TREND_UP * year) & (month_count >= 1.0)] = pb.TREND_STRENGTHENING
    result[(month < TREND_DOWN * year) & (year_count >= 2.0)] = pb.TREND_COOLING
    return result


def random_states(seed: int, n: int, fortran: bool) -> FloatArray:
    """Sparse counters (many exact zeros and integers, as folded states hold), reference
    times up to 400 days before NOW and some after it, first times before those."""
    rng = np.random.default_rng(seed)
    states = rng.exponential(3.0, (n, STATE_SIZE)) * (rng.random((n, STATE_SIZE)) < 0.4)
    states[:, ::3] = np.round(states[:, ::3])
    states[:, REF_TIME] = NOW - rng.uniform(-2 * DAY, 400 * DAY, n)
    first = states[:, REF_TIME] - rng.uniform(0, 900 * DAY, n)
    states[:, S["FIRST_TIME"]] = np.where(rng.random(n) < 0.1, 0.0, first)
    return np.asfortranarray(states) if fortran else np.ascontiguousarray(states)


def assert_same(states: FloatArray, as_of: float) -> None:
    whole = decayed_counts(states, as_of).sum(axis=(1, 2))
    for horizon in range(len(HALF_LIVES_DAYS)):
        # Bit for bit, not approximately: a trend is a threshold on these sums.
        assert whole[:, horizon].tobytes() == decayed_total(states, as_of, horizon).tobytes()
    assert trends(states, as_of).tolist() == trends_before(states, as_of).tolist()


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 300), st.booleans(), st.floats(-5, 5))
def test_the_same_sums_and_trends_as_the_whole_block(
    seed: int, n: int, fortran: bool, days_later: float
) -> None:
    assert_same(random_states(seed, n, fortran), NOW + days_later * DAY)


def test_a_large_network_in_both_layouts() -> None:
    for fortran in (True, False):  # the service's networks are feature-major
        assert_same(random_states(21, 30_000, fortran), NOW)


def test_rows_taken_alone_read_as_in_the_whole_network() -> None:
    """A rendered page takes trends of a few rows: the same as the network's rows."""
    states = random_states(5, 2_000, True)
    whole = trends(states, NOW)
    rows = [0, 7, 1_999, 513]
    assert trends(states[rows], NOW).tolist() == whole[rows].tolist()
    assert trends(states[3:4], NOW).tolist() == whole[3:4].tolist()
    assert set(whole.tolist()) == {pb.TREND_STEADY, pb.TREND_STRENGTHENING, pb.TREND_COOLING}
