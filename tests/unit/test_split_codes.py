"""`fastpath.split_codes` builds the same outcome codes eight rows at a time as byte by byte."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring_service.model.fastpath import split_codes


def codes_byte_by_byte(right: np.ndarray) -> np.ndarray:
    """The loop `CompiledForest.proba` ran before (session 12)."""
    internal = right.shape[1]
    code = right[:, internal - 1].copy()
    for k in range(internal - 2, -1, -1):
        code <<= 1
        code |= right[:, k]
    return code


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 30), st.integers(1, 7), st.integers(0, 70))
def test_the_same_codes_as_byte_by_byte(seed: int, trees: int, internal: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    right = (rng.random((trees * internal, n)) < rng.random()).view(np.uint8)
    right = right.reshape(trees, internal, n)
    expected = codes_byte_by_byte(right)
    got = split_codes(right)
    assert got.dtype == np.uint8 and got.shape == (trees, n)
    assert got.tobytes() == expected.tobytes()


def test_every_code_of_seven_splits() -> None:
    """All 128 outcomes of a depth-3 tree, in a row count of whole words and of not."""
    codes = np.arange(128, dtype=np.uint8)
    bits = ((codes[None, :] >> np.arange(7)[:, None]) & 1).astype(np.uint8)  # (7, 128)
    for n in (128, 125):
        right = np.ascontiguousarray(bits[None, :, :n])
        assert split_codes(right)[0].tolist() == codes[:n].tolist()
