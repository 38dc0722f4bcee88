"""Erasure inside the state store: the tombstone table, and deleting what a tombstone names.

`tombstones(owner, contact, until)` holds digests only (`vinculo.erasure`), so
the store keeps no trace of whom it forgot. The rows to delete are found by
comparing digests of the stored ids (a scan: erasure is rare and the store
holds no digest column to keep small). The store then rewrites its file
(`StateStore.with_writer(scrub=True)`: VACUUM, WAL truncated), so that neither
freed pages nor older copies of replaced rows keep the person's ids or names.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from vinculo.erasure import Tombstone, digest
from vinculo.identifiers import MIRROR_MARK

SCHEMA = """
CREATE TABLE IF NOT EXISTS tombstones (
    owner TEXT NOT NULL,
    contact TEXT NOT NULL,
    until REAL NOT NULL,
    PRIMARY KEY (owner, contact)
) WITHOUT ROWID
"""


@dataclass
class Erased:
    """What one erasure removed: relationships, and seen event ids (for the changelog)."""

    relationships: list[tuple[str, str]] = field(default_factory=list)
    seen: list[tuple[str, str]] = field(default_factory=list)

    @property
    def owners(self) -> set[str]:
        return {owner for owner, _ in self.relationships} | {owner for owner, _ in self.seen}


def create(conn: sqlite3.Connection) -> None:
    conn.execute(SCHEMA)  # one statement: executescript would commit the open transaction
    conn.create_function("vinculo_digest", 1, digest, deterministic=True)
    conn.create_function("vinculo_mirrored_from", 2, _mirrored_from, deterministic=True)


def stored(conn: sqlite3.Connection) -> list[Tombstone]:
    rows = conn.execute("SELECT owner, contact, until FROM tombstones").fetchall()
    return [Tombstone(str(o), str(c), float(t)) for o, c, t in rows]


def _mirrored_from(event_id: str, wanted: str) -> bool:
    """Whether `event_id` is a mirrored copy (`~OWNER/ID`) of an event of the person `wanted`
    (a digest). The owner may itself hold '/', so every split is tried."""
    if not event_id.startswith(MIRROR_MARK):
        return False
    cut = event_id.find("/", 1)
    while cut != -1:
        if digest(event_id[1:cut]) == wanted:
            return True
        cut = event_id.find("/", cut + 1)
    return False


def erase(conn: sqlite3.Connection, tombstone: Tombstone) -> Erased:
    """Delete what `tombstone` names and record it, in the caller's open write transaction."""
    conn.execute(
        "INSERT INTO tombstones VALUES (?, ?, ?) ON CONFLICT (owner, contact) "
        "DO UPDATE SET until = max(until, excluded.until)",
        (tombstone.owner, tombstone.contact, tombstone.until),
    )
    if tombstone.contact:
        match = "vinculo_digest(owner) = :o AND vinculo_digest(contact) = :c"
        seen = "vinculo_digest(owner) = :o AND vinculo_mirrored_from(event_id, :c)"
        owners = "0"
    else:
        match = "vinculo_digest(owner) = :o OR vinculo_digest(contact) = :o"
        seen = "vinculo_digest(owner) = :o OR vinculo_mirrored_from(event_id, :o)"
        owners = "vinculo_digest(owner) = :o"
    names = {"o": tombstone.owner, "c": tombstone.contact}
    erased = Erased()
    erased.relationships = [
        (str(o), str(c))
        for o, c in conn.execute(
            f"DELETE FROM relationships WHERE {match} RETURNING owner, contact", names
        ).fetchall()
    ]
    # An event's seen id names neither side; its owner and time are matched to the
    # erased events' history rows (an id of another contact's event at the very same
    # instant goes too: it is then only not deduplicated if delivered again).
    by_time = f"(owner, occurred_at) IN (SELECT owner, t FROM event_history WHERE {match})"
    erased.seen = [
        (str(o), str(e))
        for o, e in conn.execute(
            f"DELETE FROM seen_events WHERE {seen} OR {by_time} RETURNING owner, event_id",
            names,
        ).fetchall()
    ]
    conn.execute(f"DELETE FROM event_history WHERE {match}", names)
    conn.execute(f"DELETE FROM contact_profiles WHERE {match}", names)
    conn.execute(f"DELETE FROM history_missing WHERE {owners}", names)
    return erased
