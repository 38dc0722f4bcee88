"""Records written into an open kafka-python record batch (message format v2) in one pass.

`DefaultRecordBatchBuilder.append` encodes one record per call: type checks, a
bytearray per record, a varint per byte written through a callback, and a
metadata object back; the producer batch then makes a future per record. For a
changelog commit of thousands of records that was most of what appending cost.
`fill` writes the same bytes, record after record, straight into the builder's
buffer and updates the builder's counters once; the batch's header (offsets,
timestamps, producer id and sequence, CRC) is still written by kafka-python when
the sender closes the batch, and its one future still answers for every record.

It reaches into kafka-python 3's private fields (`MemoryRecordsBuilder._builder`,
`_next_offset`, `_closed`; `DefaultRecordBatchBuilder._buffer`, `_batch_size`,
`_first_timestamp`, `_max_timestamp`, `_last_offset`, `_num_records`), so
`supported()` first builds a batch both ways and compares the bytes: when
anything differs (another kafka-python), callers append record by record.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cache
from typing import Any

from kafka.record.memory_records import MemoryRecordsBuilder
from kafka.record.util import encode_varint

Record = tuple[bytes | None, bytes | None]  # key, value (None: a delete)

_TABLE_SIZE = 1 << 13  # zigzag 2n < 2**14: one or two bytes


def _zigzag_varint(value: int) -> bytes:
    out = bytearray()
    encode_varint(value, out.append)
    return bytes(out)


_VARINTS: tuple[bytes, ...] = tuple(_zigzag_varint(n) for n in range(_TABLE_SIZE))
_NULL = _zigzag_varint(-1)  # the length of a None key or value
_ATTRIBUTES = b"\x00"
_NO_HEADERS = _zigzag_varint(0)


def varint(value: int) -> bytes:
    """Kafka's zigzag varint of `value` (kafka.record.util.encode_varint's bytes)."""
    if 0 <= value < _TABLE_SIZE:
        return _VARINTS[value]
    return _zigzag_varint(value)


def _field(data: bytes | None) -> tuple[bytes, bytes]:
    """A key or value's length prefix and bytes."""
    return (_NULL, b"") if data is None else (varint(len(data)), data)


def fill(
    batch: Any, records: Sequence[Record], start: int, timestamp_ms: int, max_bytes: int
) -> int:
    """Append `records[start:]` to the open producer batch `batch` (kafka-python's
    `ProducerBatch`, holding at least one record, under its partition's lock) while
    they fit and are at most `max_bytes` long; the index of the first record left."""
    memory = batch.records
    if memory._closed:
        return start
    builder = memory._builder
    buffer: bytearray = builder._buffer
    limit: int = builder._batch_size
    offset: int = memory._next_offset
    delta = varint(timestamp_ms - builder._first_timestamp)
    largest = 0
    i = start
    for key, value in records[start:]:
        if value is not None and len(value) > max_bytes:
            break
        key_len, key_bytes = _field(key)
        value_len, value_bytes = _field(value)
        offset_bytes = varint(offset)
        size = (
            2 + len(delta) + len(offset_bytes) + len(key_len) + len(key_bytes)
            + len(value_len) + len(value_bytes)
        )  # fmt: skip
        entry = b"".join((varint(size), _ATTRIBUTES, delta, offset_bytes, key_len, key_bytes,
                          value_len, value_bytes, _NO_HEADERS))  # fmt: skip
        if len(buffer) + len(entry) > limit:
            break
        buffer += entry
        largest = max(largest, len(entry))
        offset += 1
        i += 1
    if i > start:
        builder._num_records += i - start
        builder._last_offset = offset - 1
        builder._max_timestamp = max(builder._max_timestamp, timestamp_ms)
        memory._next_offset = offset
        batch.max_record_size = max(batch.max_record_size, largest)
        batch.last_append = time.monotonic()
    return i


_T0 = 1_700_000_000_000  # a time in ms, for the check


class _Batch:
    """What `fill` uses of a ProducerBatch, for `supported`'s check."""

    def __init__(self, records: MemoryRecordsBuilder) -> None:
        self.records = records
        self.max_record_size = 0
        self.last_append = 0.0


@cache
def supported() -> bool:
    """Whether `fill` writes exactly what kafka-python's own appends write (checked once)."""
    records: list[Record] = [(b"k", b"v" * 300), (None, b"x"), (b"key", None), (b"", b"")]
    records += [(b"R%d" % n, b"\x02" * (n % 200)) for n in range(150)]
    try:
        ours = MemoryRecordsBuilder(2, 0, 1 << 20)
        ours.append(_T0, *records[0], [])
        left = fill(_Batch(ours), records, 1, _T0 + 5, 1 << 20)
        ours.close()
        return left == len(records) and bytes(ours.buffer()) == _rebuilt(records)
    except (AttributeError, TypeError, AssertionError):
        return False


def _rebuilt(records: Sequence[Record]) -> bytes:
    """kafka-python's bytes for `records`: the first at t, the others at t + 5 ms."""
    builder = MemoryRecordsBuilder(2, 0, 1 << 20)
    builder.append(_T0, *records[0], [])
    for key, value in records[1:]:
        builder.append(_T0 + 5, key, value, [])
    builder.close()
    return bytes(builder.buffer())
