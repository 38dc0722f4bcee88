"""Each partition's state, backed by a compacted changelog topic and restored from it.

What the store commits for a batch is first written to the changelog partition of
the same number, keyed so that compaction keeps what a restore needs:

- `R owner \\x1f contact`: the relationship's state (codec's sparse form);
- `S owner \\x1f event_id`: an applied event's id and time (deduplication, replies),
  and its history row (contact and folded columns, history.py) so that a restored
  owner answers a past `as_of`; a restored owner with an event lacking its row (an
  older writer, a record replayed under a `RestoreGuard`) has its history missing;
- `P owner \\x1f contact`: the contact's profile (name, company, position), merged
  with the stored one, so the latest record alone is the whole profile;
- `M`: the next input offset after the batch, and the interaction log's id.

Every value starts with the batch's end offset E (the next input offset after it).
The records are flushed (acks=all) before the store's transaction commits, so the
changelog is never behind the store. A crash between the two leaves the changelog
ahead: the store resumes at its own offsets and writes the same records again.
A crash in the middle of a flush leaves some records of a batch without its `M`:
a restore then resumes at the last `M` and, until the consumer passes the largest
E it restored, skips for each relationship the records its restored state already
holds (offset < its E) and treats a restored event id from that unfinished batch as
not yet applied elsewhere (`RestoreGuard`), so no event is lost or counted twice.
"""

from __future__ import annotations

import json
import logging
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from scoring_service.codec import decode_states, encode_states
from scoring_service.features.state import STATE_SIZE, FloatArray
from scoring_service.history import HistoryRow, Restored
from scoring_service.processor import RestoreGuard
from scoring_service.profiles import EMPTY, Profile, merge
from scoring_service.store import Batch, RelationshipKey
from vinculo.partitioning import partition_of

log = logging.getLogger(__name__)

SEP = "\x1f"
_END = struct.Struct(">q")  # the batch's end offset, first in every value
_SEEN = struct.Struct(">qd")  # end offset, event time
# then, for an applied event: type, direction, personalized, duration, audience,
# feedback label, reply-to time (NaN: none), followed by the contact id (UTF-8)
_HISTORY = struct.Struct(">iiddqid")
MARKER_KEY = b"M"
RESTORE_POLL_MS = 500


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


class ChangelogWriter:
    def __init__(self, bootstrap: str, topic: str, partitions: int, **client: Any) -> None:
        self.topic = topic
        self._partitions = partitions
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            client_id="vinculo-scoring-changelog",
            acks="all",
            linger_ms=5,
            batch_size=512 * 1024,
            **client,
        )

    def close(self) -> None:
        self._producer.close()

    def set_partitions(self, partitions: int) -> None:
        self._partitions = partitions

    def write(
        self,
        batch: Batch,
        log_id: str | None,
        stored_profiles: Mapping[RelationshipKey, Profile] | None = None,
    ) -> None:
        """Write the batch's changes to the changelog and wait for the broker's acks.
        `stored_profiles`: the store's profiles of the batch's relationships."""
        if not batch.offsets:
            return
        send = self._producer.send
        events = {
            (row[0], event_id): row
            for row, event_id in zip(batch.history, batch.history_ids, strict=True)
        }
        for (owner, event_id), t in batch.seen.items():
            p = partition_of(owner, self._partitions)
            value = _SEEN.pack(batch.offsets.get(p, 0), t)
            row = events.get((owner, event_id))
            if row is not None:
                value += _HISTORY.pack(*row[3:]) + row[1].encode()
            send(self.topic, key=f"S{owner}{SEP}{event_id}".encode(), value=value, partition=p)
        stored = stored_profiles or {}
        for (owner, contact), profile in batch.profiles.items():
            p = partition_of(owner, self._partitions)
            whole = merge(stored.get((owner, contact), EMPTY), profile)
            value = _END.pack(batch.offsets.get(p, 0)) + json.dumps(whole).encode()
            send(self.topic, key=f"P{owner}{SEP}{contact}".encode(), value=value, partition=p)
        rows = list(batch.states.items())
        if rows:
            states = np.array([state for _, (_, state) in rows]).reshape(-1, STATE_SIZE)
            for ((owner, contact), (p, _)), blob in zip(rows, encode_states(states), strict=True):
                value = _END.pack(batch.offsets.get(p, 0)) + blob
                send(
                    self.topic,
                    key=f"R{owner}{SEP}{contact}".encode(),
                    value=value,
                    partition=p,
                )
        for p, offset in batch.offsets.items():
            marker = json.dumps({"next_offset": offset, "log_id": log_id}).encode()
            send(self.topic, key=MARKER_KEY, value=_END.pack(offset) + marker, partition=p)
        self._producer.flush()

    def forget(self, relationships: list[RelationshipKey], seen: list[tuple[str, str]]) -> None:
        """Null records (deletes, for compaction and for `restore`) for erased keys."""
        for kind, keys in ((b"R", relationships), (b"S", seen)):
            for owner, second in keys:
                key = kind + f"{owner}{SEP}{second}".encode()
                p = partition_of(owner, self._partitions)
                self._producer.send(self.topic, key=key, value=None, partition=p)
        self._producer.flush()


def restore(
    bootstrap: str, topic: str, partitions: list[int], timeout_s: float = 300.0, **client: Any
) -> dict[int, RestoredPartition]:
    """Read changelog partitions from their beginning to their end, with one consumer."""
    results = {p: RestoredPartition(p) for p in partitions}
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="vinculo-scoring-restore",
        enable_auto_commit=False,
        max_poll_records=10_000,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        **client,
    )
    rows: dict[int, dict[RelationshipKey, tuple[int, bytes]]] = {p: {} for p in partitions}
    try:
        existing = consumer.partitions_for_topic(topic) or set()
        pending = {TopicPartition(topic, p) for p in partitions if p in existing}
        if not pending:
            return results  # no changelog (yet): nothing to restore
        consumer.assign(list(pending))
        consumer.seek_to_beginning(*pending)
        deadline = time.monotonic() + timeout_s
        while pending:
            for tp, records in consumer.poll(timeout_ms=RESTORE_POLL_MS).items():
                for record in records:
                    read_record(record, results[tp.partition], rows[tp.partition])
            # The end is the high watermark a fetch reports: some brokers (the embedded
            # one) answer ListOffsets with the last batch's base offset instead.
            for tp in list(pending):
                high = consumer.highwater(tp)
                if high is not None and consumer.position(tp) >= high:
                    pending.discard(tp)
                    consumer.pause(tp)
            if pending and time.monotonic() > deadline:
                raise TimeoutError(
                    f"changelog partitions {sorted(tp.partition for tp in pending)}: "
                    f"restore not done within {timeout_s} s"
                )
    finally:
        consumer.close()
    for p, found in rows.items():
        if found:
            keys = list(found)
            states = decode_states([found[k][1] for k in keys])
            results[p].states = {k: (found[k][0], states[i]) for i, k in enumerate(keys)}
    return results


def read_record(
    record: Any, result: RestoredPartition, rows: dict[RelationshipKey, tuple[int, bytes]]
) -> None:
    result.records_read += 1
    key: bytes = record.key or b""
    value: bytes = record.value or b""
    result.bytes_read += len(key) + len(value)
    kind, body = key[:1], key[1:].decode()
    if record.value is None:  # a delete (an erasure): the key is gone
        first, _, second = body.partition(SEP)
        if kind == b"R":
            rows.pop((first, second), None)
        else:
            result.seen.pop((first, second), None)
            result.events.pop((first, second), None)
    elif kind == b"R":
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
        (name, name_t), (company, company_t), (position, position_t) = json.loads(
            value[_END.size :]
        )
        result.profiles[(owner, contact)] = (
            (name, float(name_t)),
            (company, float(company_t)),
            (position, float(position_t)),
        )
    elif key == MARKER_KEY:
        marker = json.loads(value[_END.size :])
        result.next_offset = int(marker["next_offset"])
        result.log_id = marker.get("log_id")
