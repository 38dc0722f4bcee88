"""scoring_service.fetch_records unpacks fetched batches into exactly the ConsumerRecords
kafka-python's own PartitionRecords makes (hypothesis over batches: keys, values, nulls,
headers, gzip, offsets, a fetch offset inside a batch), leaves the same positions and
counters behind, and refuses a damaged batch as kafka-python does."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.errors import CorruptRecordError
from kafka.record import MemoryRecords
from kafka.record.memory_records import MemoryRecordsBuilder
from kafka.record.util import decode_varint, encode_varint
from kafka.structs import TopicPartition

from scoring_service.fetch_records import (
    FastPartitionRecords,
    _PartitionRecords,
    _varint,
    supported,
)

TP = TopicPartition("vinculo.interactions.v1", 5)
T0 = 1_760_000_000_000
data = st.one_of(st.none(), st.binary(max_size=200))
header = st.tuples(st.text(max_size=5), st.one_of(st.none(), st.binary(max_size=10)))
record = st.tuples(data, data, st.lists(header, max_size=2), st.integers(0, 10**6))
batch = st.tuples(st.sampled_from([0, 1]), st.lists(record, min_size=1, max_size=40))


def build(batches: list[tuple[int, list[Any]]]) -> bytes:
    out, offset = b"", 0
    for compression, records in batches:
        builder = MemoryRecordsBuilder(2, compression, 1 << 22, offset=offset)
        for key, value, headers, later in records:
            builder.append(T0 + later, key, value, headers)
        builder.close()
        out += bytes(builder.buffer())
        offset += len(records) + 3  # gaps, as compaction leaves them
    return out


def unpacked(kind: Any, data: bytes, fetch_offset: int) -> tuple[list[Any], tuple[int, ...]]:
    records = kind(fetch_offset, TP, MemoryRecords(data))
    taken = records.take()
    return taken, (records.next_fetch_offset, records.records_read, records.bytes_read)


def test_the_installed_kafka_python_is_the_one_it_matches() -> None:
    assert supported()


@settings(max_examples=80, deadline=None)
@given(st.lists(batch, min_size=1, max_size=4), st.integers(0, 60))
def test_the_same_records_as_kafka_python(batches: list[Any], fetch_offset: int) -> None:
    data = build(batches)
    assert unpacked(FastPartitionRecords, data, fetch_offset) == unpacked(
        _PartitionRecords, data, fetch_offset
    )


def test_records_are_taken_a_few_at_a_time_as_by_kafka_python() -> None:
    data = build([(0, [(b"k", b"v" * i, [], i) for i in range(30)])])
    ours, theirs = (
        FastPartitionRecords(0, TP, MemoryRecords(data)),
        _PartitionRecords(0, TP, MemoryRecords(data)),
    )
    for _ in range(4):
        assert ours.take(8) == theirs.take(8)
        assert ours.next_fetch_offset == theirs.next_fetch_offset


def test_a_damaged_record_is_refused_as_kafka_python_refuses_it() -> None:
    data = bytearray(build([(0, [(b"key", b"value", [], 0), (b"k2", b"v2", [], 1)])]))
    data[61] += 2  # the first record's length (a zigzag varint after the 61-byte header), +1
    for kind in (_PartitionRecords, FastPartitionRecords):
        with pytest.raises(CorruptRecordError, match="Invalid record size"):
            kind(0, TP, MemoryRecords(bytes(data)), check_crcs=False).take()


def test_varints_read_as_kafka_python_reads_them() -> None:
    for value in [*range(-9000, 9000, 7), 2**31, -(2**31), 2**40]:
        encoded = bytearray()
        encode_varint(value, encoded.append)
        encoded += b"\x00"
        assert _varint(encoded, 0) == decode_varint(encoded, 0)
