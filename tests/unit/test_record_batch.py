"""vinculo.record_batch: records written into an open batch in one pass are the bytes
kafka-python's own appends write, read back by kafka-python's reader, and stop where
its builder would refuse a record (batch full) or where a record is too large."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder

from vinculo import record_batch
from vinculo.record_batch import Record, fill, supported, varint

T0 = 1_760_000_000_000
data = hs.one_of(hs.none(), hs.binary(max_size=300))
records_strategy = hs.lists(hs.tuples(data, data), min_size=1, max_size=60)


class _Batch:
    """The fields of kafka-python's ProducerBatch that `fill` uses."""

    def __init__(self, records: MemoryRecordsBuilder) -> None:
        self.records = records
        self.max_record_size = 0
        self.last_append = 0.0


def theirs(records: list[Record], batch_size: int, later_ms: int) -> tuple[bytes, int]:
    """kafka-python's bytes: the first record at T0, the others later, while they fit."""
    builder = MemoryRecordsBuilder(2, 0, batch_size)
    builder.append(T0, *records[0], [])
    taken = 1
    for key, value in records[1:]:
        if builder.append(T0 + later_ms, key, value, []) is None:
            break
        taken += 1
    builder.close()
    return bytes(builder.buffer()), taken


def ours(records: list[Record], batch_size: int, later_ms: int) -> tuple[bytes, int]:
    builder = MemoryRecordsBuilder(2, 0, batch_size)
    builder.append(T0, *records[0], [])
    taken = fill(_Batch(builder), records, 1, T0 + later_ms, 1 << 30)
    builder.close()
    return bytes(builder.buffer()), taken


def test_the_installed_kafka_python_is_the_one_fill_matches() -> None:
    assert supported()


@settings(max_examples=150, deadline=None)
@given(records_strategy, hs.integers(min_value=0, max_value=10**7))
def test_fill_writes_the_bytes_kafka_python_writes(records: list[Record], later_ms: int) -> None:
    assert ours(records, 1 << 20, later_ms) == theirs(records, 1 << 20, later_ms)


@settings(max_examples=100, deadline=None)
@given(records_strategy, hs.integers(min_value=64, max_value=4000))
def test_fill_stops_where_a_full_batch_refuses_the_next_record(
    records: list[Record], batch_size: int
) -> None:
    mine, taken = ours(records, batch_size, 3)
    assert (mine, taken) == theirs(records, batch_size, 3)
    read = [(r.key, r.value) for batch in MemoryRecords(mine) for r in batch]
    assert read == [(k, v) for k, v in records[:taken]]


def test_offsets_and_lengths_beyond_the_varint_table_are_encoded_too() -> None:
    records: list[Record] = [(b"R%d" % i, b"v") for i in range(9000)]
    records.append((b"big", b"x" * 20000))
    assert ours(records, 1 << 22, 1) == theirs(records, 1 << 22, 1)
    assert ours(records, 1 << 22, 1)[1] == len(records)
    assert varint(-1) == b"\x01" and varint(64) == b"\x80\x01"


def test_a_record_larger_than_max_bytes_is_left_for_the_caller() -> None:
    records: list[Record] = [(b"a", b"1"), (b"b", b"2"), (b"E", b"x" * 100), (b"c", b"3")]
    builder = MemoryRecordsBuilder(2, 0, 1 << 20)
    builder.append(T0, *records[0], [])
    batch = _Batch(builder)
    assert fill(batch, records, 1, T0, 99) == 2
    assert builder.next_offset() == 2 and batch.max_record_size > 0


def test_a_closed_batch_takes_nothing() -> None:
    builder = MemoryRecordsBuilder(2, 0, 1 << 20)
    builder.append(T0, b"a", b"1", [])
    builder.close()
    assert fill(_Batch(builder), [(b"a", b"1"), (b"b", b"2")], 1, T0, 1 << 20) == 1


def test_a_kafka_python_that_writes_other_bytes_is_not_supported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record_batch.supported.cache_clear()
    monkeypatch.setattr(record_batch, "_NO_HEADERS", b"\x02")  # as if headers were encoded
    try:
        assert not record_batch.supported()
    finally:
        monkeypatch.undo()
        record_batch.supported.cache_clear()
    assert record_batch.supported()
