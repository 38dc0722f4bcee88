"""Distinct active periods of a relationship: days and weeks with an exchange, and the
decayed count of days the contact took part on.

The set of periods seen is not kept, only the first and the last (see
`_opens_period`), so a history folded oldest-first or newest-first counts the
same. Part of `fold`: the state layout is `state.py`'s.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from scoring_service.features.state import (
    DAY,
    ENGAGED_DAYS_START,
    N_HORIZONS,
    REF_TIME,
    FloatArray,
    S,
    decay_factors,
)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def count_active_periods(states: FloatArray, rows: IntArray, times: FloatArray) -> None:
    """Distinct days and weeks with an exchange (see `_opens_period`)."""
    for period, count_col, unit in (
        (DAY, S["ACTIVE_DAYS"], "DAY"),
        (7 * DAY, S["ACTIVE_WEEKS"], "WEEK"),
    ):
        bounds = (S[f"FIRST_ACTIVE_{unit}"], S[f"LAST_ACTIVE_{unit}"])
        new = _opens_period(states, rows, times, period, bounds)
        np.add.at(states[:, count_col], rows[new], 1.0)


def count_engaged_days(states: FloatArray, rows: IntArray, times: FloatArray) -> None:
    """Add each new day of these events (the contact took part) to ENGAGED_DAYS, decayed
    from the start of that day (not its first event, which depends on the order events
    come in) to the row's REF_TIME, which the caller has brought forward."""
    bounds = (S["FIRST_ENGAGED_DAY"], S["LAST_ENGAGED_DAY"])
    new = _opens_period(states, rows, times, DAY, bounds)
    rows, day_starts = rows[new], np.floor(times[new] / DAY) * DAY
    weights = decay_factors(states[rows, REF_TIME] - day_starts)
    np.add.at(states, (rows[:, None], ENGAGED_DAYS_START + _HORIZONS), weights)


_HORIZONS = np.arange(N_HORIZONS)


def _opens_period(
    states: FloatArray,
    rows: IntArray,
    times: FloatArray,
    period: float,
    bounds: tuple[int, int],
) -> BoolArray:
    """Which events (in their order) fall in a period later or earlier than every period
    of their row seen before, stored (`bounds`: first and last columns) or earlier in
    the batch; the bounds move to take them in.

    Two scalars per period kind instead of the set of periods: a stream in time order
    or in reverse (an export read newest first) counts every period exactly once; a
    late event inside the span already seen is not counted, so a shuffled stream
    under-counts, boundedly, and never counts a period twice.
    """
    if not len(rows):
        return np.zeros(0, dtype=bool)
    first_col, last_col = bounds
    order = np.argsort(rows, kind="stable")
    rows_s, index = rows[order], np.floor(times[order] / period) + 1.0
    stored_first = states[rows_s, first_col]
    latest_before = _running_before(rows_s, index, np.maximum(states[rows_s, last_col], 0.0))
    earliest_before = -_running_before(
        rows_s, -index, np.where(stored_first > 0, -stored_first, -np.inf)
    )
    new = np.empty(len(rows), dtype=bool)
    new[order] = (index > latest_before) | (index < earliest_before)
    np.maximum.at(states[:, last_col], rows_s, index)
    _lower_first(states, first_col, rows_s, index)
    return new


def _running_before(rows_s: IntArray, values: FloatArray, stored: FloatArray) -> FloatArray:
    """Per event, the largest of its row's stored value and the values of the row's
    earlier events in the batch (rows sorted, each run in event order)."""
    starts = np.ones(len(rows_s), dtype=bool)
    starts[1:] = rows_s[1:] != rows_s[:-1]
    # Running maximum within each row's run: rows are sorted, so an offset per
    # row keeps earlier rows' values below every value of this one.
    offset = rows_s * (2.0 * float(np.abs(values).max()) + 2.0)
    running = np.maximum.accumulate(values + offset) - offset
    before = np.empty_like(running)
    before[1:] = running[:-1]
    before[starts] = -np.inf
    result: FloatArray = np.maximum(before, stored)
    return result


def _lower_first(states: FloatArray, first_col: int, rows: IntArray, index: FloatArray) -> None:
    """The first-period column takes the lowest index of its row's events (0 means none)."""
    first = states[:, first_col]
    unset = first == 0.0
    lowest = np.where(unset, np.inf, first)
    np.minimum.at(lowest, rows, index)
    states[:, first_col] = np.where(np.isinf(lowest), first, lowest)
