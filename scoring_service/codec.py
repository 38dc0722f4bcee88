"""Stored bytes of relationship states: sparse, a batch at a time.

A state vector has 91 float64 slots, and most relationships use few of them
(one or two intimacy classes, one direction or both): a SNAP e-mail tie has
about 22 non-zero slots. A row is stored as a 128-bit map of its non-zero
slots (two little-endian uint64 words) followed by those values, in slot
order: ~190 bytes instead of 728. Smaller rows mean a smaller file, more
rows per page (the writer's cache covers more relationships, a commit
dirties fewer pages, the WAL and its checkpoints copy less) and cheaper
owner reads.

A state with more than `MAX_SPARSE` non-zero slots is stored dense, as its
728 raw bytes; a sparse row is never exactly that long, so the length tells
the two apart, and stores written before the sparse encoding read unchanged.
Both directions work on whole batches with numpy: the words of all rows sit
in one buffer, every value 8-byte aligned.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from scoring_service.features.state import STATE_SIZE, FloatArray

WORD = 8
MAP_WORDS = 2  # 128 bits, enough for STATE_SIZE slots
DENSE_BYTES = STATE_SIZE * WORD
# Sparse rows take MAP_WORDS + n words; at n = STATE_SIZE - MAP_WORDS they would be as
# long as a dense row, so from there on the dense form is stored (and is no larger).
MAX_SPARSE = STATE_SIZE - MAP_WORDS - 1

assert STATE_SIZE <= MAP_WORDS * 64


def encode_states(states: FloatArray) -> list[bytes]:
    """One stored row per state (rows of an (n, STATE_SIZE) array)."""
    states = np.ascontiguousarray(states, dtype="<f8")
    present = states != 0.0
    counts = present.sum(axis=1)
    dense = counts > MAX_SPARSE
    words_per_row = np.where(dense, STATE_SIZE, MAP_WORDS + counts)
    ends = np.cumsum(words_per_row)
    starts = ends - words_per_row
    words = np.empty(int(ends[-1]) if len(ends) else 0, dtype="<u8")
    sparse = ~dense if dense.any() else slice(None)  # a slice keeps the usual case copy-free
    # The map: slot i is bit i % 64 of word i // 64.
    maps = np.zeros((len(states), MAP_WORDS * WORD), dtype=np.uint8)
    packed = np.packbits(present, axis=1, bitorder="little")
    maps[:, : packed.shape[1]] = packed
    map_words = maps.view("<u8")  # (n, MAP_WORDS)
    for word in range(MAP_WORDS):
        words[starts[sparse] + word] = map_words[sparse, word]
    # Row by row, in slot order (np.compress: 6x faster than a boolean index here).
    values = np.compress(present[sparse].ravel(), states[sparse]).view("<u8")
    words[_value_positions(starts[sparse] + MAP_WORDS, counts[sparse])] = values
    if dense.any():
        dense_words = states[dense].view("<u8")
        words[(starts[dense][:, None] + np.arange(STATE_SIZE)).ravel()] = dense_words.ravel()
    data = words.tobytes()
    return [data[s * WORD : e * WORD] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]


def decode_states(blobs: Sequence[bytes]) -> FloatArray:
    """(len(blobs), STATE_SIZE) writable states from stored rows of either form."""
    states = np.zeros((len(blobs), STATE_SIZE), dtype=np.float64)
    if not blobs:
        return states
    words = np.frombuffer(b"".join(blobs), dtype="<u8")
    sizes = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs)) // WORD
    ends = np.cumsum(sizes)
    starts = ends - sizes
    dense = sizes == STATE_SIZE
    if dense.any():
        states[dense] = words[starts[dense][:, None] + np.arange(STATE_SIZE)].view("<f8")
        sparse = ~dense
        if not sparse.any():
            return states
        target = np.zeros((int(sparse.sum()), STATE_SIZE), dtype=np.float64)
    else:
        sparse, target = slice(None), states  # the usual case: straight into the result
    maps = np.stack([words[starts[sparse] + w] for w in range(MAP_WORDS)], axis=1)
    bits = np.unpackbits(maps.view(np.uint8), axis=1, count=STATE_SIZE, bitorder="little")
    positions = _value_positions(starts[sparse] + MAP_WORDS, sizes[sparse] - MAP_WORDS)
    # np.put on the flat positions: 3x faster than a boolean assignment here.
    np.put(target, np.flatnonzero(bits), words[positions].view("<f8"))
    if target is not states:
        states[sparse] = target
    return states


def _value_positions(
    first: npt.NDArray[np.int64], counts: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Word positions first[r], first[r] + 1, ... (counts[r] of them) for every row r, in order."""
    total = int(counts.sum())
    row_start = np.cumsum(counts) - counts  # index of each row's first value among all values
    offset_in_row = np.arange(total) - np.repeat(row_start, counts)
    return np.repeat(first, counts) + offset_in_row
