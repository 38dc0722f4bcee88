"""The durable state store: relationship state and consumed offsets in one SQLite file.

Decision 2 (docs/decisions/): the state changes caused by a batch of records and
the offsets after those records are written in ONE transaction, so a crash at
any instant leaves either both or neither, and a restart resumes exactly where
the last commit stopped. Kafka's committed offsets are informational only.

Tables:
- `relationships(owner, contact, partition, state, schema_version, crc)`: the state
  vector (`features.state`) in `codec`'s sparse form, tagged with its layout version,
  and a checksum verified on every read (`integrity`).
- `offsets(topic, partition, next_offset)`: the next offset to consume.
- `seen_events(owner, event_id, occurred_at)`: deduplication of redelivered
  events, and the time of an event a later reply names in `in_reply_to`.
- `meta(key, value)`: the state schema version the rows were written with, and
  the broker's id of the topic log the offsets refer to (`log_id:<topic>`).

State of another schema version is never misread: opening such a store fails
with a message naming both versions, unless `rebuild=True`, which drops state,
seen ids and offsets so the service re-consumes the topic from its beginning
(events no longer in the log are then lost, which is why it is not automatic).

One writer (the consumer thread) uses the connection made in `__init__`;
readers (gRPC threads) get their own per-thread connection and, thanks to WAL,
read the last committed state without blocking the writer.

Split by responsibility: `store_schema` (schema, connections, transactions, the
checks on opening), `store_batch` (what a commit takes, write errors),
`store_writes` (the writes); this module is the store object and its reads.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from scoring_service import history, profiles
from scoring_service.checkpointer import WalCheckpointer
from scoring_service.codec import decode_states
from scoring_service.features.state import FloatArray
from scoring_service.integrity import DamagedState, check_file, row_checksum
from scoring_service.profiles import Profile
from scoring_service.store_batch import (
    Batch,
    CommitListener,
    RelationshipKey,
    SeenBefore,
    StateSchemaMismatch,
    cannot_write,
)
from scoring_service.store_schema import (
    SCHEMA,
    check_rows,
    check_schema_version,
    connect,
    transaction,
)
from scoring_service.store_writes import (
    append_standby_history,
    write_batch,
    write_copied,
    write_restored_history,
)

__all__ = [
    "Batch",
    "CommitListener",
    "RelationshipKey",
    "SeenBefore",
    "StateSchemaMismatch",
    "StateStore",
    "cannot_write",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

# CROSS JOIN keeps json_each outside, so each wanted key is one primary-key probe.
_LOAD_STATES = """
SELECT r.owner, r.contact, r.state, r.crc
FROM json_each(?) AS wanted CROSS JOIN relationships AS r
ON r.owner = json_extract(wanted.value, '$[0]') AND r.contact = json_extract(wanted.value, '$[1]')
"""


class StateStore:
    def __init__(
        self,
        path: Path,
        topic: str,
        rebuild: bool = False,
        cache_mb: int = 64,
        wal_limit_mb: int = 64,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.topic = topic
        check_file(path, rebuild)
        self._conn = connect(path)
        # The writer probes random relationships: SQLite's default 2 MB page cache
        # missed on most of them (a larger one measured 57 -> 50 µs per record).
        self._conn.execute(f"PRAGMA cache_size = -{int(cache_mb) * 1024}")
        self._conn.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer's job
        self._conn.executescript(SCHEMA)
        history.create(self._conn)
        profiles.create(self._conn)
        self._checkpointer = WalCheckpointer(path, wal_limit_mb * 2**20)
        self._readers = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._commit_listeners: list[CommitListener] = []
        check_schema_version(self._conn, path, topic, rebuild)
        check_rows(self._conn, path, rebuild)
        self._checkpointer.start()

    # --- writer side (the consumer thread) --------------------------------------

    def _transaction(self) -> contextlib.AbstractContextManager[None]:
        """Write atomically, in the read transaction `_read` opened if there is one."""
        return transaction(self._conn)

    def next_offset(self, partition: int) -> int | None:
        """Where to resume a newly assigned partition; None when never consumed."""
        row = self._conn.execute(
            "SELECT next_offset FROM offsets WHERE topic = ? AND partition = ?",
            (self.topic, partition),
        ).fetchone()
        return None if row is None else int(row[0])

    def log_id(self) -> str | None:
        """The broker's id of the topic log the stored offsets refer to."""
        row = self._conn.execute(
            "SELECT value FROM meta WHERE key = ?", (f"log_id:{self.topic}",)
        ).fetchone()
        return None if row is None else str(row[0])

    def forget_offsets(self, partitions: list[int]) -> None:
        """These partitions' log is gone (the broker lost it): consume them from the start."""
        with self._transaction():
            self._conn.executemany(
                "DELETE FROM offsets WHERE topic = ? AND partition = ?",
                ((self.topic, p) for p in partitions),
            )

    def start_new_log(self, log_id: str) -> None:
        """The topic was re-created: its old offsets mean nothing; state is kept."""
        with self._transaction():
            self._conn.execute("DELETE FROM offsets WHERE topic = ?", (self.topic,))
            self._conn.execute(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"log_id:{self.topic}", log_id)
            )

    def _read(self) -> sqlite3.Connection:
        """The writer connection inside one read transaction that lasts until the next commit.

        In WAL mode each statement outside a transaction opens and closes its own read
        transaction (shared-memory locks, measured 10-15 µs of the ~16-23 µs of a state
        lookup). The writer is the only one, so upgrading this transaction to the
        commit's write never fails, and what it read is still current.
        """
        if not self._conn.in_transaction:
            self._conn.execute("BEGIN")
        return self._conn

    def load_state(self, owner: str, contact: str) -> FloatArray | None:
        return self.load_states([(owner, contact)]).get((owner, contact))

    def load_states(self, keys: Iterable[RelationshipKey]) -> dict[RelationshipKey, FloatArray]:
        """Stored states of these relationships (absent ones left out), in one query."""
        wanted = json.dumps(list(keys))
        rows = self._read().execute(_LOAD_STATES, (wanted,)).fetchall()
        _verify(rows)  # never fold new events into damaged state
        states = decode_states([row[2] for row in rows])  # one conversion, not one per row
        return {(row[0], row[1]): states[i] for i, row in enumerate(rows)}

    def seen_time(self, owner: str, event_id: str) -> float | None:
        """occurred_at of an already applied event of this owner, else None."""
        row = (
            self._read()
            .execute(
                "SELECT occurred_at FROM seen_events WHERE owner = ? AND event_id = ?",
                (owner, event_id),
            )
            .fetchone()
        )
        return None if row is None else float(row[0])

    def commit(self, batch: Batch) -> None:
        """Write every changed state, every seen event id and the offsets atomically.

        Raises SeenBefore, having written nothing, when an applied event's id was stored.
        """
        with self._transaction():
            write_batch(self._conn, self.topic, batch)
        self._checkpointer.committed()
        try:
            self._checkpointer.truncate_if_large(self._conn)
        except sqlite3.OperationalError as exc:
            if not cannot_write(exc):
                raise
            # The commit is durable in the WAL; the checkpoint is retried after the next.
            log.warning("WAL checkpoint of %s failed: %s", self.path, exc)
        self._tell_listeners(batch.states)

    def _tell_listeners(self, states: dict[RelationshipKey, tuple[int, FloatArray]]) -> None:
        if not states or not self._commit_listeners:
            return
        changed: dict[str, list[tuple[str, FloatArray]]] = {}
        for (owner, contact), (_, state) in states.items():
            changed.setdefault(owner, []).append((contact, state))
        for listener in self._commit_listeners:
            listener(changed)

    def probe_write(self) -> bool:
        """Whether a small write succeeds now (after the disk was full)."""
        try:
            with self._transaction():
                self._conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('write_probe', ?)", (str(time.time()),)
                )
        except sqlite3.OperationalError as exc:
            if not cannot_write(exc):
                raise
            return False
        return True

    def apply_restored(
        self,
        partition: int,
        states: dict[RelationshipKey, FloatArray],
        seen: dict[tuple[str, str], float],
        next_offset: int | None,
        restored: history.Restored | None = None,
    ) -> None:
        """Write a partition restored from the changelog (routing/changelog.py), with the
        input offset to resume at, in one transaction; `restored`: its owners' event
        history and contact profiles (without it, every owner's history is missing)."""
        rows = {key: (partition, state) for key, state in states.items()}
        with self._transaction():
            write_copied(self._conn, self.topic, partition, rows, seen, next_offset or 0)
            write_restored_history(self._conn, {owner for owner, _ in rows}, restored)
        self._checkpointer.committed()
        self._tell_listeners(rows)

    def apply_standby(
        self,
        partition: int,
        states: dict[RelationshipKey, FloatArray],
        seen: dict[tuple[str, str], float],
        next_offset: int,
        restored: history.Restored,
    ) -> None:
        """Write whole changelog batches of a partition held elsewhere (a standby copy,
        routing/standby.py) with the input offset they reach, in one transaction."""
        rows = {key: (partition, state) for key, state in states.items()}
        with self._transaction():
            write_copied(self._conn, self.topic, partition, rows, seen, next_offset)
            append_standby_history(self._conn, restored)
        self._checkpointer.committed()
        self._tell_listeners(rows)

    def with_writer(self, work: Callable[[sqlite3.Connection], T], scrub: bool = False) -> T:
        """Run `work` on the writer connection in one write transaction (erasure's tables,
        scoring_service/erasure/), from the writer's thread or before it starts. `scrub`:
        then rewrite the file (VACUUM) and truncate the WAL, so deleted rows leave no bytes."""
        if self._conn.in_transaction:
            self._conn.execute("COMMIT")  # only `_read`'s read transaction can be open here
        with self._transaction():
            result = work(self._conn)
        if scrub:
            self._conn.execute("VACUUM")
            self._truncate_wal()
        return result

    def _truncate_wal(self, attempts: int = 250) -> None:
        """Checkpoint all of the WAL and empty it; retried while a reader or the
        checkpointer's own passive checkpoint is busy (SQLITE_BUSY, for a moment)."""
        for _ in range(attempts):
            busy, _, _ = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            time.sleep(0.02)
        log.warning("WAL of %s not truncated after an erasure: readers kept it busy", self.path)

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Called after every commit that changed state, with each changed owner's new
        rows (the servicer's cache of scored networks drops those owners' networks and
        carries their states forward)."""
        self._commit_listeners.append(listener)

    # --- reader side (gRPC threads) ---------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._readers, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._readers.conn = conn
            with self._lock:
                self._reader_conns.append(conn)
        return conn

    def owner_states(self, owner: str) -> tuple[list[str], FloatArray]:
        """All of an owner's relationships: contacts (sorted) and an (n, STATE_SIZE) array."""
        rows = (
            self._reader()
            .execute(
                "SELECT owner, contact, state, crc FROM relationships WHERE owner = ? "
                "ORDER BY contact",
                (owner,),
            )
            .fetchall()
        )
        _verify(rows)
        return [row[1] for row in rows], decode_states([row[2] for row in rows])

    def owner_states_as_of(self, owner: str, as_of: float) -> tuple[list[str], FloatArray]:
        """`owner_states` as they stood at `as_of`: refolded from the event history when
        the owner has events after it (raises history.HistoryMissing when it cannot)."""
        contacts, states = self.owner_states(owner)
        if as_of >= history.newest_time(states):
            return contacts, states
        return history.states_as_of(self._reader(), owner, as_of)

    def profiles(self, owner: str, contacts: Iterable[str]) -> dict[str, Profile]:
        """Name, company and position of those contacts that have any."""
        return profiles.read(self._reader(), owner, contacts)

    def stored_profiles(self, keys: Iterable[RelationshipKey]) -> dict[RelationshipKey, Profile]:
        """The stored profiles of these relationships (those that have one), one query."""
        return profiles.read_keys(self._reader(), keys)

    def relationship_state(self, owner: str, contact: str) -> FloatArray | None:
        row = (
            self._reader()
            .execute(
                "SELECT owner, contact, state, crc FROM relationships "
                "WHERE owner = ? AND contact = ?",
                (owner, contact),
            )
            .fetchone()
        )
        if row is None:
            return None
        _verify([row])
        state: FloatArray = decode_states([row[2]])[0]
        return state

    def owner_exists(self, owner: str) -> bool:
        row = (
            self._reader()
            .execute("SELECT 1 FROM relationships WHERE owner = ? LIMIT 1", (owner,))
            .fetchone()
        )
        return row is not None

    def committed_offsets(self) -> dict[int, int]:
        """partition -> next offset to consume, as committed (any thread)."""
        rows = (
            self._reader()
            .execute("SELECT partition, next_offset FROM offsets WHERE topic = ?", (self.topic,))
            .fetchall()
        )
        return {int(p): int(o) for p, o in rows}

    def count_relationships(self) -> int:
        return int(self._reader().execute("SELECT count(*) FROM relationships").fetchone()[0])

    def close(self) -> None:
        self._checkpointer.stop()
        with self._lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()
        self._conn.close()


def _verify(rows: list[tuple[str, str, bytes, int | None]]) -> None:
    """Raise DamagedState for the first owner with a row whose checksum does not match."""
    bad = [row for row in rows if row[3] != row_checksum(row[0], row[1], row[2])]
    if bad:
        owner = bad[0][0]
        log.error("%d stored relationship row(s) failed their checksum; not served", len(bad))
        raise DamagedState(owner, [row[1] for row in bad if row[0] == owner])
