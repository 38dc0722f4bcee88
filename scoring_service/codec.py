"""Stored bytes of relationship states: sparse, a batch at a time.

A state vector has 99 float64 slots (state schema 3), and most relationships
use few of them (one or two intimacy classes, one direction or both): an
email-Eu-core tie has about 30 non-zero slots. A row is stored as a 128-bit
map of its non-zero slots (two little-endian uint64 words) followed by those
values, in slot order: ~230 bytes instead of 792 (measured on the whole
email-Eu-core and CollegeMsg logs). Smaller rows mean a smaller file, more
rows per page (the writer's cache covers more relationships, a commit
dirties fewer pages, the WAL and its checkpoints copy less) and cheaper
owner reads.

A state with more than `MAX_SPARSE` non-zero slots is stored dense, as its
792 raw bytes; a sparse row is never exactly that long, so the length tells
the two apart. Both directions work on whole batches with numpy: the words of
all rows sit in one buffer, every value 8-byte aligned.
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
    sizes = np.where(dense, STATE_SIZE, MAP_WORDS + counts)
    starts = _starts(sizes)
    words = np.empty(int(sizes.sum()), dtype="<u8")
    # The map: slot i is bit i % 64 of word i // 64.
    maps = np.zeros((len(states), MAP_WORDS * WORD), dtype=np.uint8)
    packed = np.packbits(present, axis=1, bitorder="little")
    maps[:, : packed.shape[1]] = packed
    map_words = maps.view("<u8")
    for w in range(MAP_WORDS):
        words[starts[~dense] + w] = map_words[~dense, w]
    # Values of sparse rows, row by row in slot order (np.compress and np.place:
    # several times faster than boolean indexing on these shapes, measured).
    values = np.compress((present & ~dense[:, None]).ravel(), states)
    np.place(words, _value_words(starts, sizes, ~dense), values.view("<u8"))
    if dense.any():
        np.place(words, np.repeat(dense, sizes), states[dense].view("<u8"))
    data = words.tobytes()
    ends = (starts + sizes).tolist()
    return [data[s * WORD : e * WORD] for s, e in zip(starts.tolist(), ends, strict=True)]


def decode_states(blobs: Sequence[bytes]) -> FloatArray:
    """(len(blobs), STATE_SIZE) writable states from stored rows of either form."""
    states = np.zeros((len(blobs), STATE_SIZE), dtype=np.float64)
    if not blobs:
        return states
    words = np.frombuffer(b"".join(blobs), dtype="<u8")
    sizes = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs)) // WORD
    starts = _starts(sizes)
    dense = sizes == STATE_SIZE
    maps = np.stack([words[starts[~dense] + w] for w in range(MAP_WORDS)], axis=1)
    bits = np.unpackbits(maps.view(np.uint8), axis=1, count=STATE_SIZE, bitorder="little")
    present = np.zeros((len(blobs), STATE_SIZE), dtype=bool)
    present[~dense] = bits.view(bool)
    present[dense] = True
    # Every row's stored values in order; the slots they fill, in the same order.
    value_words = _value_words(starts, sizes, ~dense) | np.repeat(dense, sizes)
    np.place(states, present, np.compress(value_words, words).view("<f8"))
    return states


def _starts(sizes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Each row's first word in the buffer of all rows' words."""
    starts: npt.NDArray[np.int64] = np.cumsum(sizes) - sizes
    return starts


def _value_words(
    starts: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64], sparse: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Per word of the buffer: True where it holds a value of a sparse row (not its map)."""
    mask = np.repeat(sparse, sizes)
    for w in range(MAP_WORDS):
        mask[starts[sparse] + w] = False
    return mask
