"""Checksums of the state store's other rows: offsets, seen event ids, event history.

Relationship rows carry a CRC-32 (scoring_service.integrity); so do the rows that
decide what is consumed and what a past instant looks like (issue 22 point 2), each
in a `crc` column written in the same statement as the row:

- `offsets`: a flipped `next_offset` silently skips or repeats events. A CRC of
  (topic, partition, next_offset) per row: one per partition per commit.
- `event_history`: a flipped number changes every past `as_of` answer of its
  owner. A CRC of the row's values, written with the row (~1 µs per applied
  event) and checked by every read of an owner's history (DATA_LOSS, like a
  damaged relationship).
- `seen_events`: a flipped id lets a repeat of that event count twice (and may
  hide another event); a flipped time changes what a repeat is compared with. A
  CRC of (owner, event_id, occurred_at) per row, as cheap as the history's.

At start every offsets row is checked, and the other two tables are scanned while
the file is within QUICK_CHECK_MAX_BYTES (as the relationship rows are). A damaged
row stops the service with the table named and what to do (`--rebuild-state`
re-consumes the interaction topic, or a restore). A store made before is migrated
in place on its first open (a one-time pass that checksums its rows as they are).
"""

from __future__ import annotations

import logging
import math
import sqlite3
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from scoring_service.integrity import REBUILD_HINT, DamagedState

log = logging.getLogger(__name__)

_DOUBLE = struct.Struct("<d")
_HISTORY = struct.Struct("<dqqddqqd")  # t, type, direction, personalized, duration, ...


def _text(*parts: object) -> int:
    return zlib.crc32("\0".join(map(str, parts)).encode())


def offset_checksum(topic: str, partition: int, next_offset: int) -> int:
    return _text(topic, partition, next_offset)


def seen_checksum(owner: str, event_id: str, occurred_at: float) -> int:
    # _text(owner, event_id, "") spelt out: one f-string, not a map and a join (per event).
    texts = zlib.crc32(f"{owner}\0{event_id}\0".encode())
    return zlib.crc32(_DOUBLE.pack(float(occurred_at)), texts)


def history_checksum(row: Sequence[Any]) -> int:
    """CRC of (owner, contact, t, type, direction, personalized, duration, audience,
    feedback_label, reply_to), as written or as read back (SQLite turns a float 1.0 in an
    INTEGER column into 1 and a NaN into NULL: both read the same here)."""
    owner, contact, t, kind, direction, personalized, duration, audience, label, reply = row
    reply = math.nan if reply is None or reply != reply else float(reply)
    packed = _HISTORY.pack(
        float(t), int(kind), int(direction), float(personalized), float(duration),
        int(audience), int(label), reply,
    )  # fmt: skip
    return zlib.crc32(packed, zlib.crc32(f"{owner}\0{contact}\0".encode()))  # _text's bytes


class DamagedHistory(DamagedState):
    """Rows of an owner's event history failed their checksum; not served."""

    def __init__(self, owner: str, count: int) -> None:
        RuntimeError.__init__(
            self,
            f"{count} stored event history row(s) of this owner failed their checksum "
            f"(table event_history; damaged, not served): {REBUILD_HINT}",
        )
        self.owner = owner
        self.contacts = []


def verified_history(owner: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows (contact, t, ..., reply_to, crc) of `owner`, without the crc; DamagedHistory
    if one fails."""
    bad = sum(1 for row in rows if row[-1] != history_checksum((owner, *row[:-1])))
    if bad:
        log.error("%d stored event history row(s) failed their checksum; not served", bad)
        raise DamagedHistory(owner, bad)
    return [row[:-1] for row in rows]


# table -> (the columns a checksum covers, the checksum of a row of them, the row key)
_TABLES: dict[str, tuple[str, Callable[..., int], str]] = {
    "offsets": ("topic, partition, next_offset", offset_checksum, "topic, partition"),
    "seen_events": ("owner, event_id, occurred_at", seen_checksum, "owner, event_id"),
    "event_history": (
        "owner, contact, t, type, direction, personalized, duration, audience, "
        "feedback_label, reply_to",
        lambda *row: history_checksum(row),
        "rowid",
    ),
}
ALWAYS_CHECKED = ("offsets",)  # a few rows: checked at every start, whatever the size


def add_row_checksums(db: sqlite3.Connection) -> None:
    """Give a store made before them a `crc` column in each table, filled for every row
    (in the caller's transaction)."""
    for table, (columns, checksum, key) in _TABLES.items():
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if "crc" in present:
            continue
        log.info("adding a checksum to every row of %s (one-time upgrade)", table)
        db.execute(f"ALTER TABLE {table} ADD COLUMN crc INTEGER")
        width = len(columns.split(","))
        rows = db.execute(f"SELECT {columns}, {key} FROM {table}").fetchall()
        where = " AND ".join(f"{k.strip()} = ?" for k in key.split(","))
        db.executemany(
            f"UPDATE {table} SET crc = ? WHERE {where}",
            ((checksum(*row[:width]), *row[width:]) for row in rows),
        )


def damaged_tables(db: sqlite3.Connection, tables: Iterable[str]) -> dict[str, int]:
    """table -> rows whose checksum does not match (full scans), only tables with some."""
    found: dict[str, int] = {}
    for table in tables:
        columns, checksum, _ = _TABLES[table]
        cursor = db.execute(f"SELECT {columns}, crc FROM {table}")
        bad = 0
        while chunk := cursor.fetchmany(10_000):
            bad += sum(1 for row in chunk if row[-1] != checksum(*row[:-1]))
        if bad:
            found[table] = bad
    return found


def all_tables() -> list[str]:
    return list(_TABLES)
