"""Stored state rows: sparse and dense forms, read back exactly, old rows too."""

from __future__ import annotations

import numpy as np

from scoring_service.codec import (
    DENSE_BYTES,
    MAP_WORDS,
    MAX_SPARSE,
    WORD,
    decode_states,
    encode_states,
)
from scoring_service.features.state import STATE_SIZE


def _states(rows: int, seed: int = 0) -> np.ndarray:
    """Rows with every count of non-zero slots from none to all, at random places."""
    rng = np.random.default_rng(seed)
    states = np.zeros((rows, STATE_SIZE))
    for i in range(rows):
        filled = rng.choice(STATE_SIZE, i % (STATE_SIZE + 1), replace=False)
        states[i, filled] = rng.normal(size=len(filled)) * 10.0 ** rng.integers(-300, 300)
    return states


def test_rows_of_every_density_read_back_bit_for_bit() -> None:
    states = _states(2 * (STATE_SIZE + 1))
    states[3, 7] = -0.0  # a negative zero is zero: stored as absent, read as +0.0
    decoded = decode_states(encode_states(states))
    np.testing.assert_array_equal(decoded, states)
    assert decoded.flags.writeable and decoded.dtype == np.float64


def test_sparse_rows_hold_only_their_non_zero_slots_and_never_look_dense() -> None:
    states = _states(STATE_SIZE + 1)
    blobs = encode_states(states)
    for state, blob in zip(states, blobs, strict=True):
        non_zero = int(np.count_nonzero(state))
        if non_zero <= MAX_SPARSE:
            assert len(blob) == (MAP_WORDS + non_zero) * WORD != DENSE_BYTES
        else:
            assert len(blob) == DENSE_BYTES  # the dense form is then no larger


def test_rows_written_as_raw_float64_before_the_sparse_form_still_read() -> None:
    states = _states(40, seed=1)
    old = [np.ascontiguousarray(row, dtype="<f8").tobytes() for row in states[:20]]
    mixed = old + encode_states(states[20:])
    np.testing.assert_array_equal(decode_states(mixed), states)


def test_no_rows() -> None:
    assert encode_states(np.zeros((0, STATE_SIZE))) == []
    assert decode_states([]).shape == (0, STATE_SIZE)
