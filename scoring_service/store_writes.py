"""The state store's writes, each inside a transaction the store opened: a consumed
batch, a partition restored from the changelog, a standby copy's batches
(scoring_service/store.py calls these; the consumer thread is the one writer)."""

from __future__ import annotations

import sqlite3

import numpy as np

from scoring_service import history, profiles
from scoring_service.codec import encode_states
from scoring_service.features.state import STATE_SCHEMA_VERSION, STATE_SIZE, FloatArray
from scoring_service.integrity import row_checksum
from scoring_service.row_checksums import offset_checksum, seen_checksum
from scoring_service.store_batch import Batch, RelationshipKey, SeenBefore

States = dict[RelationshipKey, tuple[int, FloatArray]]  # key -> (partition, state)


def write_batch(conn: sqlite3.Connection, topic: str, batch: Batch) -> None:
    """Every changed state, seen event id, history row, profile and the offsets.

    Raises SeenBefore when an applied event's id was stored (the caller's transaction
    then rolls everything back)."""
    write_states(conn, batch.states, batch.state_blobs())
    before = conn.total_changes
    conn.executemany(
        "INSERT OR IGNORE INTO seen_events VALUES (?, ?, ?, ?)",
        ((o, e, t, seen_checksum(o, e, t)) for (o, e), t in batch.seen.items()),
    )
    if conn.total_changes - before != len(batch.seen):
        raise SeenBefore(f"a batch of {len(batch.seen)} events repeats a stored event id")
    history.append(conn, batch.history)
    profiles.write(conn, batch.profiles)
    conn.executemany(
        "INSERT OR REPLACE INTO offsets VALUES (?, ?, ?, ?)",
        ((topic, p, o, offset_checksum(topic, p, o)) for p, o in batch.offsets.items()),
    )


def write_states(
    conn: sqlite3.Connection, states: States, blobs: list[bytes] | None = None
) -> None:
    """Every (partition, state) row, encoded (unless `blobs` holds them, in `states`
    order) and checksummed."""
    rows = list(states.items())
    if blobs is None:
        blobs = encode_states(np.array([state for _, (_, state) in rows]).reshape(-1, STATE_SIZE))
    conn.executemany(
        "INSERT OR REPLACE INTO relationships "
        "(owner, contact, partition, state, schema_version, crc) VALUES (?, ?, ?, ?, ?, ?)",
        (
            (
                owner,
                contact,
                partition,
                blob,
                STATE_SCHEMA_VERSION,
                row_checksum(owner, contact, blob),
            )
            for ((owner, contact), (partition, _)), blob in zip(rows, blobs, strict=True)
        ),
    )


def write_copied(
    conn: sqlite3.Connection,
    topic: str,
    partition: int,
    rows: States,
    seen: dict[tuple[str, str], float],
    next_offset: int,
) -> None:
    """States and event ids copied from the changelog, and the input offset they reach."""
    write_states(conn, rows)
    conn.executemany(
        "INSERT OR REPLACE INTO seen_events VALUES (?, ?, ?, ?)",
        ((o, e, t, seen_checksum(o, e, t)) for (o, e), t in seen.items()),
    )
    conn.execute(
        "INSERT OR REPLACE INTO offsets VALUES (?, ?, ?, ?)",
        (topic, partition, next_offset, offset_checksum(topic, partition, next_offset)),
    )


def write_restored_history(
    conn: sqlite3.Connection, owners: set[str], restored: history.Restored | None
) -> None:
    """A restored partition's owners get the changelog's history (or none: missing)."""
    if restored is None:
        history.mark_missing(conn, owners)
    else:
        history.replace(conn, owners, restored)
        profiles.write(conn, restored.profiles)


def append_standby_history(conn: sqlite3.Connection, restored: history.Restored) -> None:
    """A standby copy's batches add their events (owners it cannot vouch for: missing)."""
    history.append(conn, (r for r in restored.rows if r[0] not in restored.incomplete))
    history.mark_missing(conn, restored.incomplete)
    profiles.write(conn, restored.profiles)
