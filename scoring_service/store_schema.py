"""The state store's file: schema, connections, transactions, and the checks made on
opening it (layout version, row checksums). scoring_service/store.py uses these."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from scoring_service import history
from scoring_service.features.state import STATE_SCHEMA_VERSION
from scoring_service.integrity import (
    QUICK_CHECK_MAX_BYTES,
    REBUILD_HINT,
    DamagedStore,
    add_checksums,
    damaged_rows,
)
from scoring_service.row_checksums import (
    ALWAYS_CHECKED,
    add_row_checksums,
    all_tables,
    damaged_tables,
)
from scoring_service.store_batch import StateSchemaMismatch

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS relationships (
    owner TEXT NOT NULL,
    contact TEXT NOT NULL,
    partition INTEGER NOT NULL,
    state BLOB NOT NULL,
    schema_version INTEGER NOT NULL,
    crc INTEGER,
    PRIMARY KEY (owner, contact)
) WITHOUT ROWID;
-- No query reads relationships by partition: an index on it cost ~34 B and one extra
-- B-tree write per state row. Stores made before it was dropped lose it on open.
DROP INDEX IF EXISTS relationships_by_partition;
CREATE TABLE IF NOT EXISTS offsets (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    crc INTEGER,  -- scoring_service.row_checksums
    PRIMARY KEY (topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen_events (
    owner TEXT NOT NULL,
    event_id TEXT NOT NULL,
    occurred_at REAL NOT NULL,
    crc INTEGER,  -- scoring_service.row_checksums
    PRIMARY KEY (owner, event_id)
) WITHOUT ROWID;
"""


def connect(path: Path) -> sqlite3.Connection:
    # check_same_thread=False: a connection is made in one thread and used by
    # exactly one other (the writer by the consumer thread, a reader by its gRPC
    # thread); close() runs at shutdown from the main thread.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives a process crash (the test's SIGKILL);
    # only an OS crash or power loss may drop the last commits, never corrupt.
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """Write atomically, in the read transaction the store's `_read` opened if there is one."""
    if not conn.in_transaction:
        conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        # SQLite rolls back by itself after some errors (SQLITE_FULL among them).
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def check_schema_version(conn: sqlite3.Connection, path: Path, topic: str, rebuild: bool) -> None:
    """Refuse (or, rebuilding, drop) state of another layout version; record this one."""
    stored = _stored_versions(conn)
    foreign = stored - {STATE_SCHEMA_VERSION}
    if foreign and not rebuild:
        raise StateSchemaMismatch(
            f"state store {path} holds relationship state of schema version(s) "
            f"{sorted(foreign)}, this build uses version {STATE_SCHEMA_VERSION}: run with "
            "--rebuild-state (VINCULO_SCORING_REBUILD_STATE=true) to drop it and re-consume "
            "the topic from its beginning, or use a build of the matching version"
        )
    if rebuild and not foreign and history.incomplete(conn):
        log.warning("dropping state kept without event history; re-consuming %s", topic)
        drop_everything(conn)
    if foreign:
        log.warning(
            "dropping state of schema version(s) %s (this build: %d); re-consuming from the "
            "beginning of %s",
            sorted(foreign),
            STATE_SCHEMA_VERSION,
            topic,
        )
        drop_everything(conn)
    with transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO meta VALUES ('state_schema_version', ?)",
            (str(STATE_SCHEMA_VERSION),),
        )


def check_rows(conn: sqlite3.Connection, path: Path, rebuild: bool) -> None:
    """Checksums added to an older store; every row verified while affordable (the
    offsets always: a damaged one would skip or repeat events, silently)."""
    with transaction(conn):
        add_checksums(conn)
        add_row_checksums(conn)
    affordable = path.stat().st_size <= QUICK_CHECK_MAX_BYTES
    damaged = damaged_rows(conn) if affordable else []
    tables = damaged_tables(conn, all_tables() if affordable else ALWAYS_CHECKED)
    if not damaged and not tables:
        return  # past the size bound, reads still verify the relationships and history
    problems = [f"{len(damaged)} relationship row(s)"] if damaged else []
    problems += [f"{count} row(s) of table {table}" for table, count in tables.items()]
    problem = f"{', '.join(problems)} failed their checksum"
    if not rebuild:
        raise DamagedStore(f"state store {path}: {problem}: {REBUILD_HINT}")
    log.warning("state store %s: %s; rebuilding from the topic", path, problem)
    drop_everything(conn)


def _stored_versions(conn: sqlite3.Connection) -> set[int]:
    rows = conn.execute("SELECT DISTINCT schema_version FROM relationships").fetchall()
    versions = {int(row[0]) for row in rows}
    meta = conn.execute("SELECT value FROM meta WHERE key = 'state_schema_version'").fetchone()
    if meta is not None:
        versions.add(int(meta[0]))
    return versions


def drop_everything(conn: sqlite3.Connection) -> None:
    """Every state row, seen id, offset, history row and profile (a rebuild)."""
    with transaction(conn):
        for table in ("relationships", "offsets", "seen_events"):
            conn.execute(f"DELETE FROM {table}")  # fixed table names, no input
        history.clear(conn)
        conn.execute("DELETE FROM contact_profiles")
