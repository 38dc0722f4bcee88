"""Consumption paused while the state store cannot be written (a full disk, a lock).

Nothing of the refused batch was written; it is consumed again from the stored
offsets once a probe write succeeds. Reads go on serving committed state, and the
service reports NOT_SERVING meanwhile (`writable`), until a batch is committed again.
"""

from __future__ import annotations

import logging
import sqlite3
import time

from scoring_service.metrics import ScoringMetrics
from scoring_service.store import StateStore

log = logging.getLogger(__name__)

STORE_RETRY_S = 2.0


class WritePause:
    def __init__(self, store: StateStore, metrics: ScoringMetrics) -> None:
        self._store = store
        self._metrics = metrics
        self.since: float | None = None  # when paused; None while consuming
        self.writable = True

    def begin(self, exc: sqlite3.OperationalError) -> None:
        log.error(
            "state store %s cannot be written (%s): consumption paused, retried every %.0f s; "
            "free space on its disk or end what locks it (nothing is lost: the records stay "
            "in the log)",
            self._store.path,
            exc,
            STORE_RETRY_S,
        )
        self._metrics.store_writable.set(0)
        self.writable = False
        self.since = time.monotonic()

    def can_resume(self) -> bool:
        """Whether a probe write, tried every STORE_RETRY_S, succeeds now."""
        if self.since is None or time.monotonic() - self.since < STORE_RETRY_S:
            return False
        if not self._store.probe_write():
            self.since = time.monotonic()
            return False
        # Consuming again, but still not ready: a probe's few bytes can fit where a batch
        # does not (a full disk flapped SERVING for a moment every STORE_RETRY_S).
        log.info("state store %s took a probe write: consuming again", self._store.path)
        self.since = None
        return True

    def confirmed(self) -> None:
        """A batch was committed, or nothing was left to commit after resuming: ready."""
        if self.writable or self.since is not None:
            return
        log.info("state store %s can be written again: serving", self._store.path)
        self.writable = True
        self._metrics.store_writable.set(1)
