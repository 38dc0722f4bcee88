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

Segments: the log is a series of files `ingest-outbox.<index>.seg`, each named
by the index of its first record; a segment is sealed once it holds
`segment_bytes`, and a new one begins. Reading (a replay, an export) holds one
segment in memory at a time, and a whole sealed segment is the unit that
retention drops (`retention_s`: sealed segments whose last write is older;
0 keeps everything) and that a rewrite (erasure) replaces atomically. Record
indices are absolute: they never shift when old segments go. The single file
of earlier versions (`ingest-outbox.log`) is taken over as the first segment.

A file: frames of `u32 length | u32 crc32 | u16 key length | key | value`.
A torn or damaged tail of the newest segment (a crash mid-write) is cut off at
open and logged; it was never acknowledged. An exclusive flock on
`ingest-outbox.lock` keeps two ingest processes off one directory; the kernel
drops it when its holder dies, so a crash leaves no stale lock.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest_service.publisher import Record

log = logging.getLogger(__name__)

_HEAD = struct.Struct(">II")  # payload length, crc32 of the payload
_KEY_LEN = struct.Struct(">H")
FILE_NAME = "ingest-outbox.log"  # the name sidecar files derive from; the old single file
PREFIX, SUFFIX = "ingest-outbox.", ".seg"
SEGMENT_BYTES = 64 * 1024 * 1024


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


@dataclass
class Segment:
    base: int  # absolute index of its first record
    path: Path


def segment_path(directory: Path, base: int) -> Path:
    return directory / f"{PREFIX}{base:020d}{SUFFIX}"


def _cut_torn_tail(path: Path) -> int:
    """Truncate a damaged or partial last frame (never acknowledged); the records kept."""
    data = path.read_bytes() if path.exists() else b""
    spans, valid = _parse(data)
    if valid < len(data):
        log.warning(
            "outbox %s: cut a torn tail of %d bytes (a crash mid-write; never acknowledged)",
            path, len(data) - valid,
        )  # fmt: skip
        with path.open("r+b") as torn:
            torn.truncate(valid)
            os.fsync(torn.fileno())
    return len(spans)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Outbox:
    """An append-only, fsynced, segmented log of acknowledged records. Thread-safe."""

    def __init__(
        self, directory: Path, segment_bytes: int = SEGMENT_BYTES, retention_s: float = 0.0
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.path = directory / FILE_NAME
        self.segment_bytes = segment_bytes
        self.retention_s = retention_s
        self._lock_fd = os.open(directory / "ingest-outbox.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._lock_fd)
            raise OutboxLocked(f"{directory} is in use by another ingest process") from exc
        self._lock = threading.Lock()
        self._adopt_single_file()
        self._segments = self._scan()
        self._count = self._written = self._recover()
        self._fd = self._open(self._segments[-1].path)
        self._size = os.fstat(self._fd).st_size
        self._inflight: dict[int, int] = {}  # fd -> appends between write and fsync
        self._retired: list[int] = []  # fds of sealed segments, closed once not in flight

    def _adopt_single_file(self) -> None:
        """The one file of earlier versions becomes segment 0 (atomic rename)."""
        if self.path.exists() and not segment_path(self.directory, 0).exists():
            self.path.replace(segment_path(self.directory, 0))
            _fsync_dir(self.directory)
            log.info("outbox %s: the single file became the first segment", self.directory)

    def _scan(self) -> list[Segment]:
        found = sorted(
            (
                Segment(int(p.name[len(PREFIX) : -len(SUFFIX)]), p)
                for p in self.directory.glob(f"{PREFIX}*{SUFFIX}")
                if p.name[len(PREFIX) : -len(SUFFIX)].isdigit()
            ),
            key=lambda segment: segment.base,
        )
        return found or [Segment(0, segment_path(self.directory, 0))]

    def _recover(self) -> int:
        """Cut torn tails; the index after the newest segment's last record.

        Only the two newest segments can be torn: a crash can interrupt writes to
        the newest and, right after a rotation, to the one it sealed."""
        for segment in self._segments[-2:-1]:
            _cut_torn_tail(segment.path)
        last = self._segments[-1]
        return last.base + _cut_torn_tail(last.path)

    @staticmethod
    def _open(path: Path) -> int:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)

    def __len__(self) -> int:
        """The index after the last durable record (records ever kept, retention included)."""
        with self._lock:
            return self._count

    @property
    def first_index(self) -> int:
        """Index of the oldest record still kept (above 0 once retention dropped some)."""
        with self._lock:
            return self._segments[0].base

    def append(self, records: Sequence[Record]) -> None:
        """Write and fsync; once this returns the records survive any crash."""
        if not records:
            return
        blob = b"".join(_frame(r) for r in records)
        with self._lock:
            fd = self._fd
            self._write_whole(fd, blob)
            self._written += len(records)
            self._size += len(blob)
            self._inflight[fd] = self._inflight.get(fd, 0) + 1
        try:
            # fsync outside the lock: concurrent callers share one flush (group commit).
            os.fsync(fd)
        finally:
            with self._lock:
                self._inflight[fd] -= 1
                self._close_retired()
        with self._lock:
            self._count += len(records)
            if self._size >= self.segment_bytes:
                self._rotate()

    def _write_whole(self, fd: int, blob: bytes) -> None:
        """Append all of `blob`, or nothing (under the lock).

        A full disk writes part of a batch (a short write) or raises ENOSPC. The
        part written must not stay: later appends would follow it, and at the
        next start the torn frame would cut every record after it, acknowledged
        ones included, as a torn tail (measured: a 40 MiB tmpfs filled mid-load).
        """
        try:
            written = os.write(fd, blob)
            if written != len(blob):
                raise OSError(
                    errno.ENOSPC,
                    f"{os.strerror(errno.ENOSPC)}: short write ({written} of {len(blob)} bytes)",
                )
        except OSError:
            os.ftruncate(fd, self._size)
            raise

    def _rotate(self) -> None:
        """Seal the newest segment and begin the next (under the lock)."""
        segment = Segment(self._written, segment_path(self.directory, self._written))
        fd = self._open(segment.path)
        _fsync_dir(self.directory)
        self._retired.append(self._fd)
        self._fd, self._size = fd, 0
        self._segments.append(segment)
        self._close_retired()
        self._drop_expired()

    def _close_retired(self) -> None:
        for fd in [fd for fd in self._retired if not self._inflight.get(fd)]:
            self._retired.remove(fd)
            self._inflight.pop(fd, None)
            os.close(fd)

    def _drop_expired(self) -> None:
        """Sealed segments last written longer than `retention_s` ago (0: none)."""
        if self.retention_s <= 0:
            return
        horizon = time.time() - self.retention_s
        while len(self._segments) > 1 and self._segments[0].path.stat().st_mtime < horizon:
            old = self._segments.pop(0)
            old.path.unlink()
            log.info("outbox: dropped segment %s (older than the retention)", old.path.name)

    def records(self, limit: int) -> Iterator[Record]:
        """The records with index below `limit`, oldest first."""
        return self.records_between(0, limit)

    def records_between(self, start: int, end: int) -> Iterator[Record]:
        """The kept records with `start` <= index < `end`; one segment in memory at a time."""
        with self._lock:
            segments = list(self._segments)
        bounds = [s.base for s in segments[1:]] + [end]
        for segment, next_base in zip(segments, bounds, strict=True):
            if next_base <= start or segment.base >= end:
                continue
            try:
                data = segment.path.read_bytes()
            except FileNotFoundError:  # dropped by retention meanwhile
                continue
            spans, _ = _parse(data)
            first = max(start - segment.base, 0)
            for begin, stop in spans[first : end - segment.base]:
                yield _record(data[begin:stop])

    def size_bytes(self) -> int:
        """Bytes on disk of every kept segment."""
        with self._lock:
            paths = [s.path for s in self._segments]
        return sum(p.stat().st_size for p in paths if p.exists())

    def compact(self, drop: Callable[[Record], bool], checked: int = 0) -> tuple[int, int]:
        """Rewrite the segments holding records `drop` selects (erased people) without them.

        `checked`: the record index below which `drop` last found nothing; only
        records from it on are tested for a match (every segment is rewritten that
        holds one). Returns the records removed and the index to pass as `checked`
        next time. Appends wait meanwhile. Each rewritten segment is written,
        fsynced and renamed over the old one: a crash leaves one or the other whole.
        Indices are not reused: later records keep theirs (a segment only shrinks).
        """
        with self._lock:
            removed = 0
            bounds = [s.base for s in self._segments[1:]] + [self._written]
            for segment, next_base in zip(list(self._segments), bounds, strict=True):
                if next_base <= checked or not segment.path.exists():
                    continue
                data = segment.path.read_bytes()
                spans, _ = _parse(data)
                if not any(drop(_record(data[s:e])) for s, e in spans):
                    continue
                kept = [data[s - _HEAD.size : e] for s, e in spans if not drop(_record(data[s:e]))]
                removed += len(spans) - len(kept)
                self._rewrite(segment, b"".join(kept))
            return removed, self._written

    def _rewrite(self, segment: Segment, data: bytes) -> None:
        partial = segment.path.with_name(segment.path.name + ".compact")
        with partial.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(segment.path)
        _fsync_dir(self.directory)
        if segment is self._segments[-1]:  # the one appends go to: reopen it
            self._retired.append(self._fd)
            self._fd = self._open(segment.path)
            self._size = len(data)
            self._close_retired()

    def tail(self, count: int) -> list[Record]:
        """The last `count` records, oldest first (ingest_service.dedupe_seed); reads
        segments from the newest back, only as many as hold them."""
        if count <= 0:
            return []
        with self._lock:
            segments = list(self._segments)
        found: list[Record] = []
        for segment in reversed(segments):
            try:
                data = segment.path.read_bytes()
            except FileNotFoundError:  # dropped by retention meanwhile
                break
            spans, _ = _parse(data)
            wanted = spans[-(count - len(found)) :]
            found = [_record(data[start:end]) for start, end in wanted] + found
            if len(found) >= count:
                break
        return found

    def close(self) -> None:
        with self._lock:
            for fd in [self._fd, *self._retired]:
                os.close(fd)
            self._retired.clear()
        os.close(self._lock_fd)  # also releases the flock
