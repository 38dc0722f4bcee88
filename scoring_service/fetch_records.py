"""Fetched record batches into ConsumerRecords with less Python per record.

kafka-python unpacks each record of a fetched batch through several calls: the
batch's iterator, `_read_msg` (seven varints through a function each, and the
batch's timestamp type, first timestamp and base offset read again per record
through properties), a CRC call that answers True for format v2, two
deserializer calls and a header-size sum. For the scoring consumer that was
~13% of its thread (py-spy). `FastPartitionRecords` keeps kafka-python's
handling of batches (CRC check, transactions, control batches, offsets) line
for line and reads the records of an ordinary v2 batch in one loop, with
one-byte varints read inline; it yields the same ConsumerRecords.

Installed only on the scoring consumer (`install`), and only when `supported()`
finds this kafka-python's own unpacking gives the same records for a sample of
batches (it reaches into `Fetcher.PartitionRecords` and the batch's `_buffer`,
`_pos`, `_num_records`, `_next_record_index`, `_maybe_uncompress`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import cache
from typing import Any

import kafka.errors as errors
from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord, Fetcher
from kafka.record import MemoryRecords
from kafka.record.memory_records import MemoryRecordsBuilder
from kafka.record.util import decode_varint
from kafka.structs import TopicPartition

log = logging.getLogger(__name__)

_PartitionRecords: Any = Fetcher.PartitionRecords
LOG_APPEND_TIME = 1
_new = tuple.__new__


class FastPartitionRecords(_PartitionRecords):  # type: ignore[misc]
    def _unpack_records(
        self, tp: TopicPartition, records: Any, key_deserializer: Any, value_deserializer: Any
    ) -> Iterator[Any]:
        if key_deserializer is not None or value_deserializer is not None:
            yield from super()._unpack_records(tp, records, key_deserializer, value_deserializer)
            return
        try:
            batch = records.next_batch()
            last_batch = None
            while batch is not None:
                last_batch = batch
                if self.check_crcs and not batch.validate_crc():
                    raise errors.CorruptRecordError(
                        f"Record batch for partition {self.topic_partition} at offset "
                        f"{batch.base_offset} failed crc check"
                    )
                if batch.magic != 2:  # a legacy message set: kafka-python's own loop
                    yield from self._records(tp, batch)
                    batch = records.next_batch()
                    continue
                self.leader_epoch = batch.leader_epoch
                if self.isolation_level == 1 and batch.has_producer_id():  # READ_COMMITTED
                    self._consume_aborted_transactions_up_to(batch.last_offset)
                    producer_id = batch.producer_id
                    if self._contains_abort_marker(batch):
                        self.aborted_producer_ids.discard(producer_id)
                    elif self._is_batch_aborted(batch):
                        self.next_fetch_offset = batch.next_offset
                        batch = records.next_batch()
                        continue
                if batch.is_control_batch:
                    self.next_fetch_offset = batch.next_offset
                    batch = records.next_batch()
                    continue
                yield from self._v2_records(tp, batch)
                batch = records.next_batch()
            else:
                if last_batch and last_batch.magic == 2:
                    self.next_fetch_offset = last_batch.next_offset
                self.drain()
        except StopIteration:  # as kafka-python: not swallowed by the generator
            log.exception("StopIteration raised unpacking messageset")
            raise RuntimeError("StopIteration raised unpacking messageset") from None

    def _records(self, tp: TopicPartition, batch: Any) -> Iterator[Any]:
        """kafka-python's per-record loop (legacy batches)."""
        for record in batch:
            if self.check_crcs and not record.validate_crc():
                raise errors.CorruptRecordError(
                    f"Record for partition {self.topic_partition} at offset "
                    f"{record.offset} failed crc check"
                )
            key, value, headers = record.key, record.value, record.headers
            header_size = _header_size(headers) if headers else -1
            self.records_read += 1
            self.bytes_read += record.size_in_bytes
            self.next_fetch_offset = record.offset + 1
            yield ConsumerRecord(
                tp.topic, tp.partition, self.leader_epoch, record.offset, record.timestamp,
                record.timestamp_type, key, value, headers, record.checksum,
                len(key) if key is not None else -1, len(value) if value is not None else -1,
                header_size,
            )  # fmt: skip

    def _v2_records(self, tp: TopicPartition, batch: Any) -> Iterator[Any]:
        """The records of a v2 batch, read as `DefaultRecordBatch._read_msg` reads them."""
        batch._maybe_uncompress()
        buffer: bytearray = batch._buffer
        pos: int = batch._pos
        topic, partition, epoch = tp.topic, tp.partition, self.leader_epoch
        kind = batch.timestamp_type
        first = batch.max_timestamp if kind == LOG_APPEND_TIME else batch.first_timestamp
        same_time = kind == LOG_APPEND_TIME
        base = batch.base_offset
        try:
            while batch._next_record_index < batch._num_records:
                length, pos = _varint(buffer, pos)
                start = pos
                _, pos = _varint(buffer, pos)  # attributes, unused (as kafka-python)
                delta, pos = _varint(buffer, pos)
                offset_delta, pos = _varint(buffer, pos)
                key_len, pos = _varint(buffer, pos)
                key = None
                if key_len >= 0:
                    key = bytes(buffer[pos : pos + key_len])
                    pos += key_len
                value_len, pos = _varint(buffer, pos)
                value = None
                if value_len >= 0:
                    value = bytes(buffer[pos : pos + value_len])
                    pos += value_len
                count, pos = _varint(buffer, pos)
                headers: list[tuple[str, bytes | None]] = []
                if count:
                    pos = _read_headers(buffer, pos, count, headers)
                if pos - start != length:
                    raise errors.CorruptRecordError(
                        f"Invalid record size: expected to read {length} bytes in record "
                        f"payload, but instead read {pos - start}"
                    )
                batch._pos = pos
                batch._next_record_index += 1
                offset = base + offset_delta
                self.records_read += 1
                self.bytes_read += length
                self.next_fetch_offset = offset + 1
                # tuple.__new__: the namedtuple's own __new__ is a Python function more.
                yield _new(ConsumerRecord, (
                    topic, partition, epoch, offset, first if same_time else first + delta, kind,
                    key, value, headers, None,
                    -1 if key is None else len(key), -1 if value is None else len(value),
                    _header_size(headers) if headers else -1,
                ))  # fmt: skip
        except (ValueError, IndexError) as err:
            raise errors.CorruptRecordError(f"Found invalid record structure: {err!r}") from None
        if pos != len(buffer):
            raise errors.CorruptRecordError(
                f"{len(buffer) - pos} unconsumed bytes after all records consumed"
            )


def _varint(buffer: bytearray, pos: int) -> tuple[int, int]:
    """A zigzag varint: one or two bytes read here, longer ones by kafka-python."""
    byte = buffer[pos]
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), pos + 1
    second = buffer[pos + 1]
    if second < 0x80:
        both = (byte & 0x7F) | (second << 7)
        return (both >> 1) ^ -(both & 1), pos + 2
    value: int
    value, pos = decode_varint(buffer, pos)
    return value, pos


def _read_headers(
    buffer: bytearray, pos: int, count: int, headers: list[tuple[str, bytes | None]]
) -> int:
    if count < 0:
        raise errors.CorruptRecordError(f"Found invalid number of record headers {count}")
    for _ in range(count):
        key_len, pos = _varint(buffer, pos)
        if key_len < 0:
            raise errors.CorruptRecordError(f"Invalid negative header key size {key_len}")
        key = buffer[pos : pos + key_len].decode("utf-8")
        pos += key_len
        value_len, pos = _varint(buffer, pos)
        value = None
        if value_len >= 0:
            value = bytes(buffer[pos : pos + value_len])
            pos += value_len
        headers.append((key, value))
    return pos


def _header_size(headers: list[tuple[str, bytes | None]]) -> int:
    return sum(len(k.encode("utf-8")) + (len(v) if v is not None else 0) for k, v in headers)


def install(consumer: KafkaConsumer) -> bool:
    """Make this consumer's fetcher unpack records with `FastPartitionRecords`, when
    `supported()`; whether it did."""
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None or not supported():
        log.info("fetched records unpacked by kafka-python's own loop")
        return False
    fetcher.PartitionRecords = FastPartitionRecords
    return True


@cache
def supported() -> bool:
    """Whether this kafka-python unpacks a sample of batches into the same records."""
    try:
        records = _sample()
        theirs = _PartitionRecords(0, TopicPartition("t", 3), MemoryRecords(records)).take()
        ours = FastPartitionRecords(0, TopicPartition("t", 3), MemoryRecords(records)).take()
        return len(theirs) == 23 and ours == theirs
    except (AttributeError, TypeError, AssertionError) as exc:
        log.info("FastPartitionRecords not usable with this kafka-python: %s", exc)
        return False


def _sample() -> bytes:
    """Three batches: plain, gzip-compressed, with headers and a null key and value."""
    out = b""
    for compression, offset in ((0, 0), (1, 10), (0, 20)):
        builder = MemoryRecordsBuilder(2, compression, 1 << 20, offset=offset)
        for i in range(10 if offset < 20 else 3):
            headers = [("h", b"v"), ("n", None)] if offset == 20 and i == 1 else []
            key = None if i == 2 else f"owner-{i}".encode()
            value = None if offset == 20 and i == 2 else b"x" * (i * 30)
            builder.append(1_760_000_000_000 + i, key, value, headers)
        builder.close()
        out += bytes(builder.buffer())
    return out
