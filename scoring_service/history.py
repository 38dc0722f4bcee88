"""Each owner's applied events, kept compact, so that a past `as_of` is answered right.

The relationship state is a fold of every event applied so far: read at an
earlier instant it would still count the events after it. A read with an
`as_of` before the owner's newest event therefore refolds the owner's network
from the events that occurred at or before `as_of` (`states_as_of`), with the
same `fold` as the consumer, in the order the consumer applied them.

A row is the columns `fold.Events.from_tuples` takes (no ids, no text beyond the
two keys). A store made by a build without this table holds no history for the
events it applied before; it says so (`history_incomplete` in `meta`) and a past
`as_of` is refused until the state is rebuilt from the log. Likewise an owner
whose state was restored from another instance's changelog (scale-out) is
refused a past `as_of` (`history_missing`) when the changelog could not give back
every one of its applied events (`Restored`), never answered from partial events.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from scoring_service.features.fold import Events, fold
from scoring_service.features.state import STATE_SIZE, FloatArray, S
from scoring_service.profiles import Profile
from scoring_service.row_checksums import history_checksum, verified_history

SCHEMA = """
CREATE TABLE IF NOT EXISTS event_history (
    owner TEXT NOT NULL,
    contact TEXT NOT NULL,
    t REAL NOT NULL,
    type INTEGER NOT NULL,
    direction INTEGER NOT NULL,
    personalized INTEGER NOT NULL,
    duration REAL NOT NULL,
    audience INTEGER NOT NULL,
    feedback_label INTEGER NOT NULL,
    reply_to REAL,
    crc INTEGER  -- scoring_service.row_checksums
);
-- By owner alone, so by (owner, rowid): an applied event's entry goes to the end of its
-- owner's range, which the other events of its owner in the same commit share, where an
-- index on (owner, t) put each event of a random past time on a page of its own (0.4 of
-- the 1.8 pages a random update dirtied at 300k relationships; bench/write_path.py).
-- A past as_of reads the owner's entries in applied order and keeps those up to as_of.
DROP INDEX IF EXISTS event_history_by_owner;
CREATE INDEX IF NOT EXISTS event_history_by_owner_seq ON event_history (owner);
-- Owners with state restored from the changelog (scale-out), which has no events.
CREATE TABLE IF NOT EXISTS history_missing (owner TEXT PRIMARY KEY) WITHOUT ROWID;
"""
INCOMPLETE_KEY = "history_incomplete"

# (owner, contact, t, type, direction, personalized, duration, audience, label, reply_to)
HistoryRow = tuple[str, str, float, int, int, float, float, int, int, float]


class HistoryMissing(RuntimeError):
    """The store cannot refold a past instant: it lacks the events from before this build."""


def create(conn: sqlite3.Connection) -> None:
    """Make the table; a store that already has state but no history is marked incomplete."""
    had_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'event_history'"
    ).fetchone()
    had_state = conn.execute("SELECT 1 FROM relationships LIMIT 1").fetchone()
    conn.executescript(SCHEMA)
    if had_table is None and had_state is not None:
        conn.execute("INSERT OR REPLACE INTO meta VALUES (?, '1')", (INCOMPLETE_KEY,))


def clear(conn: sqlite3.Connection) -> None:
    """With the state dropped to be rebuilt from the log, the history is rebuilt whole."""
    conn.execute("DELETE FROM event_history")
    conn.execute("DELETE FROM history_missing")
    conn.execute("DELETE FROM meta WHERE key = ?", (INCOMPLETE_KEY,))


def mark_missing(conn: sqlite3.Connection, owners: Iterable[str]) -> None:
    """These owners' states came from elsewhere (a changelog restore) without their events."""
    conn.executemany("INSERT OR IGNORE INTO history_missing VALUES (?)", ((o,) for o in owners))


def incomplete(conn: sqlite3.Connection) -> bool:
    """True when the store applied events before it kept their history."""
    return (
        conn.execute("SELECT 1 FROM meta WHERE key = ?", (INCOMPLETE_KEY,)).fetchone() is not None
    )


def append(conn: sqlite3.Connection, rows: Iterable[HistoryRow]) -> None:
    conn.executemany(
        "INSERT INTO event_history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ((*row, history_checksum(row)) for row in rows),
    )


def newest_time(states: FloatArray) -> float:
    """The newest event time folded into any of these states (-inf for none)."""
    if not len(states):
        return -math.inf
    return float(max(states[:, S["LAST_TIME"]].max(), states[:, S["FEEDBACK_TIME"]].max()))


def states_as_of(
    conn: sqlite3.Connection, owner: str, as_of: float
) -> tuple[list[str], FloatArray]:
    """The owner's relationships as they stood at `as_of`: only events at or before it.

    Contacts (sorted) with at least one such event, and their refolded states.
    """
    if incomplete(conn):
        raise HistoryMissing(
            "this state store was made by a build that kept no event history, so it can "
            "answer only as of its owners' newest events or later; restart the scoring "
            "service with --rebuild-state (VINCULO_SCORING_REBUILD_STATE=true) to rebuild "
            "state and history from the topic"
        )
    if conn.execute("SELECT 1 FROM history_missing WHERE owner = ?", (owner,)).fetchone():
        raise HistoryMissing(
            "this owner's state was restored from the changelog of another scoring "
            "instance, which carries no event history, so it can be answered only as of "
            "the owner's newest event or later"
        )
    rows = verified_history(
        owner,
        conn.execute(
            "SELECT contact, t, type, direction, personalized, duration, audience, "
            "feedback_label, reply_to, crc FROM event_history WHERE owner = ? AND t <= ? "
            "ORDER BY rowid",
            (owner, as_of),
        ).fetchall(),
    )
    contacts = sorted({row[0] for row in rows})
    index = {contact: i for i, contact in enumerate(contacts)}
    table = [
        (index[c], kind, direction, t, pers, dur, aud, label, math.nan if reply is None else reply)
        for c, t, kind, direction, pers, dur, aud, label, reply in rows
    ]
    states = np.zeros((len(contacts), STATE_SIZE), dtype=np.float64)  # = new_state() rows
    if contacts:
        fold(states, Events.from_tuples(table))
    return contacts, states


@dataclass
class Restored:
    """What a changelog restore brings besides the states (scale-out): the applied events
    of its owners in the order they were applied, the owners whose events it cannot
    vouch for (their history is then missing), and the contacts' profiles."""

    rows: list[HistoryRow] = field(default_factory=list)
    incomplete: set[str] = field(default_factory=set)
    profiles: dict[tuple[str, str], Profile] = field(default_factory=dict)


def replace(conn: sqlite3.Connection, owners: set[str], restored: Restored) -> None:
    """These owners' history becomes the restored one (rows this store kept for them
    before, e.g. before its offsets were lost, would otherwise count twice)."""
    conn.executemany("DELETE FROM event_history WHERE owner = ?", ((o,) for o in owners))
    conn.executemany("DELETE FROM history_missing WHERE owner = ?", ((o,) for o in owners))
    append(conn, (row for row in restored.rows if row[0] not in restored.incomplete))
    mark_missing(conn, restored.incomplete & owners)
