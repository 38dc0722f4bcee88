"""WAL checkpoints of the state store, off the consumer thread.

SQLite's automatic checkpoint runs inside the committing writer's call: it
copies the WAL back into the database file and fsyncs both. With state rows of
~720 bytes landing on random pages, that was ~13 µs of the consumer's ~60 µs
per record (measured over 120,000 SNAP records). Here a thread of its own runs
PASSIVE checkpoints after commits; SQLite releases the GIL while it copies and
syncs, so the consumer goes on applying records meanwhile.

A passive checkpoint never blocks the writer, but the WAL only starts over
from its beginning when the writer finds it fully copied at the start of a
transaction, which a busy writer seldom does. So the store asks for
`truncate_if_large` right after a commit (when it holds no read snapshot): past
`wal_limit_bytes` the writer checkpoints whatever is left and truncates the
file, which keeps the WAL, and the disk it takes, bounded.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class WalCheckpointer:
    def __init__(self, path: Path, wal_limit_bytes: int, idle_interval_s: float = 5.0) -> None:
        self._path = path
        self._wal = path.with_name(path.name + "-wal")
        self._limit = wal_limit_bytes
        self._idle_interval_s = idle_interval_s
        self._wake = threading.Event()
        # Two checkpoints at once: the second gets SQLITE_BUSY and does nothing.
        self._checkpointing = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def committed(self) -> None:
        """A transaction was committed: its pages can be copied back now."""
        self._wake.set()

    def truncate_if_large(self, writer: sqlite3.Connection) -> None:
        """On the writer, between transactions: bound the WAL file's size."""
        try:
            size = self._wal.stat().st_size
        except FileNotFoundError:
            return
        if size > self._limit:
            with self._checkpointing:
                busy, _, _ = writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy:  # a reader held an old snapshot past the busy timeout; next commit retries
                log.warning(
                    "WAL of %s is %d bytes and could not be truncated yet", self._path, size
                )

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=NORMAL")
        try:
            while not self._stop.is_set():
                self._wake.wait(self._idle_interval_s)
                self._wake.clear()
                with self._checkpointing:
                    # PASSIVE: copies what no reader still needs, never waits for anyone.
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            # Not fatal: the writer's truncate_if_large still bounds the WAL.
            log.exception("background WAL checkpoints stopped; the writer checkpoints instead")
        finally:
            conn.close()
