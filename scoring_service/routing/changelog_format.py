"""The changelog's records, format version 2 (written) and 1 (still read).

Version 2, per committed batch and changelog partition (= input partition):

- `R owner \\x1f contact`, one per relationship the batch changed: `\\x02`, the batch's
  end offset E (the next input offset after it), the state (codec's sparse form;
  not compressed: one zlib call per state cost more CPU than the rest of the record,
  docs/experiments/2026-12-04-perfcl.md). Compaction keeps the latest per relationship.
- `P owner \\x1f contact`, one per profile the batch changed (few events carry names):
  `\\x02`, E, the contact's whole profile as JSON (merged with the stored one, so the
  latest record alone is the whole profile, whatever compaction removed).
- `E <E>`, one per partition, written last: `\\x02`, E, then zlib-compressed: a JSON
  line (the interaction log's id, the ids a restore guard skipped), then the batch's
  applied events column-wise: their ids and their history rows (deduplication,
  replies, a past `as_of`). The key is unique per batch, so compaction keeps every
  one; it also marks the batch as whole (version 1's `M`).

One `send` per relationship (and changed profile) and one per partition, where
version 1 sent one per event id (`S`) too: the sends were half the
consumer thread's time. A version 1 changelog (values start with E's zero high byte)
still restores; a record of an unknown version is refused (`ChangelogFormatError`).

Erasure: `E` records mix owners, so a forget cannot delete its events by key; a
reader drops the events the erasure tombstones match (`Erased`), as every reader of
the interaction log does (docs/decisions/0013-erasure.md). `R` keys get deletes.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scoring_service.features.state import FloatArray
from scoring_service.history import HistoryRow, Restored
from scoring_service.processor import RestoreGuard
from scoring_service.profiles import EMPTY, Profile, merge
from scoring_service.store import Batch, RelationshipKey
from vinculo.partitioning import partition_of

SEP = "\x1f"
VERSION = 2
READABLE = (1, 2)
_V2 = b"\x02"
_END = struct.Struct(">q")  # version 1: the batch's end offset, first in every value
_SEEN = struct.Struct(">qd")  # version 1: end offset, event time
# version 1, after _SEEN for an applied event: type, direction, personalized, duration,
# audience, feedback label, reply-to time (NaN: none), followed by the contact id
_HISTORY = struct.Struct(">iiddqid")
MARKER_KEY = b"M"  # version 1's batch end
EVENTS_PREFIX = b"E"
ZLIB_LEVEL = 1  # the consumer's thread pays for it: fast, and JSON compresses well anyway

# (owner, contact, occurred_at) -> forgotten? (scoring_service/erasure/)
Erased = Callable[[str, str, float], bool]


class ChangelogFormatError(RuntimeError):
    """A changelog record this build cannot read (written by a newer build)."""


@dataclass
class RestoredPartition:
    """What a changelog partition held: the state to write into the store."""

    partition: int
    next_offset: int | None = None  # None: no batch was ever completed
    log_id: str | None = None
    states: dict[RelationshipKey, tuple[int, FloatArray]] = field(default_factory=dict)
    seen: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)
    events: dict[tuple[str, str], HistoryRow] = field(default_factory=dict)
    profiles: dict[RelationshipKey, Profile] = field(default_factory=dict)
    records_read: int = 0
    bytes_read: int = 0

    def guard(self) -> RestoreGuard | None:
        """The relationships restored from a batch whose flush never finished."""
        done = self.next_offset or 0
        rows = {k: end for k, (end, _) in self.states.items() if end > done}
        return RestoreGuard(max(rows.values()), rows) if rows else None

    def durable_seen(self) -> dict[tuple[str, str], float]:
        """Event ids of finished batches; an unfinished batch's ids are replayed (the
        guard skips the records whose relationships already hold them)."""
        done = self.next_offset or 0
        return {k: t for k, (end, t) in self.seen.items() if end <= done}

    def history(self) -> Restored:
        """The applied events of finished batches, in the order applied. An owner with
        a relationship under the guard (its replay skips events the state holds) or
        with an event whose row the changelog lacks gets no history (it is missing)."""
        done = self.next_offset or 0
        guard = self.guard()
        incomplete = {owner for owner, _ in guard.rows} if guard is not None else set()
        rows: list[HistoryRow] = []
        for key, (end, _) in self.seen.items():
            if end > done:
                continue  # an unfinished batch: consumed again
            row = self.events.get(key)
            if row is None:
                incomplete.add(key[0])
            else:
                rows.append(row)
        return Restored(rows, incomplete, dict(self.profiles))


# --- writing ---------------------------------------------------------------------


def batch_records(
    batch: Batch,
    log_id: str | None,
    partitions: int,
    stored_profiles: Mapping[RelationshipKey, Profile],
) -> Iterator[tuple[int, bytes, bytes]]:
    """(partition, key, value) of a batch's records, each partition's `E` last."""
    yield from _state_records(batch, stored_profiles)
    yield from _events_records(batch, log_id, partitions)


def partition_records(
    batch: Batch,
    log_id: str | None,
    partitions: int,
    stored_profiles: Mapping[RelationshipKey, Profile],
) -> dict[int, list[tuple[bytes, bytes]]]:
    """`batch_records` by partition: each partition's (key, value) records in order."""
    grouped: dict[int, list[tuple[bytes, bytes]]] = {}
    for p, key, value in _state_records(batch, stored_profiles):
        records = grouped.get(p)
        if records is None:
            records = grouped[p] = []
        records.append((key, value))
    for p, key, value in _events_records(batch, log_id, partitions):
        grouped.setdefault(p, []).append((key, value))
    return grouped


def _events_records(
    batch: Batch, log_id: str | None, partitions: int
) -> list[tuple[int, bytes, bytes]]:
    """Each partition's `E` record: the batch's applied events and the offset it reaches."""
    applied: dict[int, list[int]] = {p: [] for p in batch.offsets}  # history row indices
    states = batch.states
    for i, row in enumerate(batch.history):
        applied[states[(row[0], row[1])][0]].append(i)
    guarded: dict[int, list[list[Any]]] = {}
    if len(batch.seen) > len(batch.history):  # ids a restore guard skipped: no row
        pairs = zip(batch.history, batch.history_ids, strict=True)
        ids = {(row[0], event_id) for row, event_id in pairs}
        for (owner, event_id), t in batch.seen.items():
            if (owner, event_id) not in ids:
                guarded.setdefault(partition_of(owner, partitions), []).append([owner, event_id, t])
    records = []
    for p, end in batch.offsets.items():
        body = _events_body(batch, applied.get(p, []), guarded.get(p, []), log_id)
        value = _V2 + _END.pack(end) + zlib.compress(body, ZLIB_LEVEL)
        records.append((p, EVENTS_PREFIX + str(end).encode(), value))
    return records


def _events_body(
    batch: Batch, rows: list[int], guarded: list[list[Any]], log_id: str | None
) -> bytes:
    """A JSON header line, the events' ids (owner, contact, event id: `SEP`-joined UTF-8,
    ids hold no control characters) and their numeric history columns (n x 8 float64,
    little-endian): built column-wise, not per event."""
    history, ids = batch.history, batch.history_ids
    texts = SEP.join(f"{history[i][0]}{SEP}{history[i][1]}{SEP}{ids[i]}" for i in rows).encode()
    numbers = np.array([history[i][2:] for i in rows], dtype="<f8").reshape(-1, 8).tobytes()
    header = {"log_id": log_id, "events": len(rows), "text_bytes": len(texts), "guarded": guarded}
    return json.dumps(header).encode() + b"\n" + texts + numbers


def _state_records(
    batch: Batch, stored_profiles: Mapping[RelationshipKey, Profile]
) -> list[tuple[int, bytes, bytes]]:
    """An `R` record per changed state, then a `P` record per changed profile."""
    states = batch.states
    if not states:
        return []
    offsets = batch.offsets
    blobs = batch.state_blobs()
    heads = {p: _V2 + _END.pack(end) for p, end in offsets.items()}
    zero = _V2 + _END.pack(0)
    records = [
        (p, f"R{owner}{SEP}{contact}".encode(), (heads.get(p) or zero) + blob)
        for ((owner, contact), (p, _)), blob in zip(states.items(), blobs, strict=True)
    ]
    for key, profile in batch.profiles.items():
        p = states[key][0]
        whole = json.dumps(merge(stored_profiles.get(key, EMPTY), profile)).encode()
        records.append((p, f"P{key[0]}{SEP}{key[1]}".encode(), heads.get(p, zero) + whole))
    return records


# --- reading ---------------------------------------------------------------------


def is_batch_end(key: bytes | None) -> bool:
    """The record that closes a batch on its partition (version 2's `E`, 1's `M`)."""
    return key == MARKER_KEY or (key is not None and key.startswith(EVENTS_PREFIX))


def read_record(
    record: Any,
    result: RestoredPartition,
    rows: dict[RelationshipKey, tuple[int, bytes]],
    erased: Erased | None = None,
) -> None:
    """Fold one changelog record into `result` (states into `rows`, decoded later)."""
    result.records_read += 1
    key: bytes = record.key or b""
    value: bytes | None = record.value
    result.bytes_read += len(key) + len(value or b"")
    kind = key[:1]
    if value is None:  # a delete (an erasure): the key is gone
        first, _, second = key[1:].decode().partition(SEP)
        if kind == b"R":
            rows.pop((first, second), None)
        elif kind == b"P":
            result.profiles.pop((first, second), None)
        elif kind == b"S":
            result.seen.pop((first, second), None)
            result.events.pop((first, second), None)
        return
    version = _version(value)
    if version not in READABLE:
        raise ChangelogFormatError(
            f"changelog partition {result.partition}, offset {record.offset}: a record of "
            f"format version {version}; this build reads versions {list(READABLE)}. Run a "
            "build at least as new as the one that wrote it, or restore from the "
            "interaction log instead (a new consumer group, VINCULO_SCORING_GROUP)"
        )
    if version == 2:
        _read_v2(kind, key, value, result, rows, erased)
    else:
        _read_v1(kind, key, value, result, rows)


def _version(value: bytes) -> int:
    # Version 1 values start with a non-negative big-endian offset: a zero first byte.
    return 1 if not value or value[0] == 0 else value[0]


def _read_v2(
    kind: bytes,
    key: bytes,
    value: bytes,
    result: RestoredPartition,
    rows: dict[RelationshipKey, tuple[int, bytes]],
    erased: Erased | None,
) -> None:
    if kind == b"R":
        owner, _, contact = key[1:].decode().partition(SEP)
        rows[(owner, contact)] = (_END.unpack_from(value, 1)[0], value[1 + _END.size :])
    elif kind == b"P":
        owner, _, contact = key[1:].decode().partition(SEP)
        result.profiles[(owner, contact)] = _profile(json.loads(value[1 + _END.size :]))
    elif kind == EVENTS_PREFIX:
        end = _END.unpack_from(value, 1)[0]
        body = zlib.decompress(value[1 + _END.size :])
        _read_events(end, body, result, erased)
        result.next_offset = end
        result.log_id = json.loads(body.partition(b"\n")[0])["log_id"]


def _read_events(end: int, body: bytes, result: RestoredPartition, erased: Erased | None) -> None:
    line, _, rest = body.partition(b"\n")
    header = json.loads(line)
    n, size = int(header["events"]), int(header["text_bytes"])
    texts = rest[:size].decode().split(SEP) if n else []
    numbers = np.frombuffer(rest[size:], dtype="<f8").reshape(-1, 8)
    if len(texts) != 3 * n or len(numbers) != n:
        raise ChangelogFormatError(
            f"changelog partition {result.partition}: the events record of the batch ending "
            f"at input offset {end} is damaged ({n} events, {len(texts)} ids, "
            f"{len(numbers)} rows)"
        )
    seen, rows = result.seen, result.events
    for owner, event_id, t in header["guarded"]:  # ids a restore guard skipped
        seen[(owner, event_id)] = (end, float(t))
    for i, (t, kind, direction, pers, dur, aud, label, reply) in enumerate(numbers.tolist()):
        owner, contact, event_id = texts[3 * i : 3 * i + 3]
        if erased is not None and erased(owner, contact, t):
            continue
        seen[(owner, event_id)] = (end, t)
        rows[(owner, event_id)] = (
            owner, contact, t, int(kind), int(direction), pers, dur, int(aud), int(label), reply
        )  # fmt: skip


def _read_v1(
    kind: bytes,
    key: bytes,
    value: bytes,
    result: RestoredPartition,
    rows: dict[RelationshipKey, tuple[int, bytes]],
) -> None:
    body = key[1:].decode()
    if kind == b"R":
        owner, _, contact = body.partition(SEP)
        rows[(owner, contact)] = (_END.unpack_from(value)[0], value[_END.size :])
    elif kind == b"S":
        owner, _, event_id = body.partition(SEP)
        end, t = _SEEN.unpack_from(value)
        result.seen[(owner, event_id)] = (end, t)
        if len(value) > _SEEN.size:
            columns = _HISTORY.unpack_from(value, _SEEN.size)
            contact = value[_SEEN.size + _HISTORY.size :].decode()
            result.events[(owner, event_id)] = (owner, contact, t, *columns)
    elif kind == b"P":
        owner, _, contact = body.partition(SEP)
        result.profiles[(owner, contact)] = _profile(json.loads(value[_END.size :]))
    elif key == MARKER_KEY:
        marker = json.loads(value[_END.size :])
        result.next_offset = int(marker["next_offset"])
        result.log_id = marker.get("log_id")


def _profile(fields: list[list[Any]]) -> Profile:
    (name, name_t), (company, company_t), (position, position_t) = fields
    return ((name, float(name_t)), (company, float(company_t)), (position, float(position_t)))
