"""The ingest outbox: every acknowledged record, fsynced, replayed into an emptied broker.

Why (docs/decisions/0011-durable-embedded-log.md): the embedded broker keeps
its log in memory, so records it acknowledged vanish with it. The ingest
service therefore answers a call only once its records are acknowledged by the
broker (acks=all) AND appended to this local log and fsynced. A watcher
(ingest_service.durable) compares, every second, the interaction topic's id
with the one the log was last replayed into (`ingest-outbox.topic-id`); a new
id means the topic was re-created (an in-memory broker restarted), and the
whole log is produced again. The scoring service ignores repeats by event id.

With Apache Kafka (production) the topic id never changes, so the watcher
never replays; the outbox can also be turned off (`VINCULO_INGEST_OUTBOX=false`).
The log grows with every acknowledged record (it is the history `vinculo
export` and a state rebuild need); it is read whole when replayed. Records of
erased people are cut out of it (`compact`, driven by `outbox_eraser.py`).

The file: frames of `u32 length | u32 crc32 | u16 key length | key | value`.
A torn or damaged tail (a crash mid-write) is cut off at open and logged; it
was never acknowledged. An exclusive flock keeps two ingest processes off one
file; the kernel drops it when its holder dies, so a crash leaves no stale lock.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ingest_service.publisher import Record

log = logging.getLogger(__name__)

_HEAD = struct.Struct(">II")  # payload length, crc32 of the payload
_KEY_LEN = struct.Struct(">H")
FILE_NAME = "ingest-outbox.log"


class OutboxLocked(RuntimeError):
    """Another live process holds this outbox."""


def _frame(record: Record) -> bytes:
    key = record.key.encode()
    payload = _KEY_LEN.pack(len(key)) + key + record.value
    return _HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def _parse(data: bytes) -> tuple[list[tuple[int, int]], int]:
    """Spans (start, end) of the valid payloads, and where the valid prefix ends."""
    spans: list[tuple[int, int]] = []
    pos = 0
    while pos + _HEAD.size <= len(data):
        length, crc = _HEAD.unpack_from(data, pos)
        start, end = pos + _HEAD.size, pos + _HEAD.size + length
        if end > len(data) or zlib.crc32(data[start:end]) != crc:
            break
        spans.append((start, end))
        pos = end
    return spans, pos


def _record(payload: bytes) -> Record:
    (key_len,) = _KEY_LEN.unpack_from(payload, 0)
    key_end = _KEY_LEN.size + key_len
    return Record(payload[_KEY_LEN.size : key_end].decode(), payload[key_end:])


class Outbox:
    """An append-only, fsynced log of acknowledged records. Thread-safe."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / FILE_NAME
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._fd)
            raise OutboxLocked(f"{self.path} is in use by another ingest process") from exc
        self._lock = threading.Lock()
        self._retired: list[int] = []  # descriptors of files `compact` replaced
        self._count = self._recover()

    def _recover(self) -> int:
        data = self.path.read_bytes()
        spans, valid = _parse(data)
        if valid < len(data):
            log.warning(
                "outbox %s: cut a torn tail of %d bytes (a crash mid-write; never acknowledged)",
                self.path, len(data) - valid,
            )  # fmt: skip
            os.ftruncate(self._fd, valid)
            os.fsync(self._fd)
        return len(spans)

    def __len__(self) -> int:
        with self._lock:
            return self._count

    def append(self, records: Sequence[Record]) -> None:
        """Write and fsync; once this returns the records survive any crash."""
        if not records:
            return
        blob = b"".join(_frame(r) for r in records)
        with self._lock:
            fd = self._fd
            written = os.write(fd, blob)
        if written != len(blob):  # O_APPEND on a local file writes all or raises
            raise OSError(f"outbox {self.path}: short write ({written} of {len(blob)} bytes)")
        # fsync outside the lock: concurrent callers share one flush (group commit).
        os.fsync(fd)
        with self._lock:
            self._count += len(records)

    def records(self, limit: int) -> Iterator[Record]:
        """The first `limit` records, oldest first."""
        data = self.path.read_bytes()
        spans, _ = _parse(data)
        for start, end in spans[:limit]:
            yield _record(data[start:end])

    def compact(self, drop: Callable[[Record], bool], checked: int = 0) -> tuple[int, int]:
        """Rewrite the log without the records `drop` selects (erased people).

        `checked`: the size the log had when `drop` last found nothing in it; only
        records after it are tested for a match (the whole log is when one does).
        Returns the records removed and the size to pass as `checked` next time.
        Appends wait meanwhile. The new file is written, fsynced and locked beside
        the old one, then renamed over it: a crash leaves one or the other whole.
        """
        with self._lock:
            data = self.path.read_bytes()
            spans, valid = _parse(data)
            if not any(drop(_record(data[s:e])) for s, e in spans if s >= checked):
                return 0, valid
            kept = [data[s - _HEAD.size : e] for s, e in spans if not drop(_record(data[s:e]))]
            partial = self.path.with_name(self.path.name + ".compact")
            fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, b"".join(kept))
            os.fsync(fd)
            os.replace(partial, self.path)
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
            # The old descriptor may still be in an append's fsync: closed at close().
            self._retired.append(self._fd)
            self._fd = fd
            self._count = len(kept)
            return len(spans) - len(kept), sum(map(len, kept))

    def tail(self, count: int) -> list[Record]:
        """The last `count` records, oldest first (ingest_service.dedupe_seed)."""
        if count <= 0:
            return []
        data = self.path.read_bytes()
        spans, _ = _parse(data)
        return [_record(data[start:end]) for start, end in spans[-count:]]

    def close(self) -> None:
        for fd in self._retired:
            os.close(fd)
        os.close(self._fd)  # also releases the flock
