"""Whether the ingest outbox can write; the service's readiness follows it.

A call is acknowledged only once its records are in the outbox (decision 11),
so while the outbox cannot write (a full disk, a read-only or failing one)
every publish answers UNAVAILABLE: the service is up but cannot accept. Its
standard gRPC health then says so: readiness ("", `readiness`, the service
name) is NOT_SERVING, liveness stays SERVING (a restart would not free the
disk), the gauge `vinculo_ingest_outbox_writable` is 0, and one log line names
the directory and the error. A failure is one transition, not a line per call.

It comes back on the first write that succeeds: a publish (callers may keep
trying), or a probe, because a balancer that honours NOT_SERVING sends no more
calls. The probe runs at most every `PROBE_INTERVAL_S` while writes fail, from
the outbox watcher's thread: it writes and fsyncs `PROBE_BYTES` (a large batch's
worth) to a scratch file in the outbox directory and removes it.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import Gauge

log = logging.getLogger(__name__)

PROBE_NAME = ".ingest-outbox.probe"
PROBE_BYTES = 256 * 1024
PROBE_INTERVAL_S = 2.0


class OutboxHealth:
    """`failed`/`succeeded` after each outbox write; `probe_if_due` from a watcher."""

    def __init__(
        self, directory: Path, gauge: Gauge, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """gauge: IngestMetrics.outbox_writable."""
        self.directory = directory
        self._clock = clock
        self._lock = threading.Lock()
        self._writable = True
        self._next_probe = 0.0
        self._listeners: list[Callable[[bool], None]] = []
        self.gauge = gauge
        self.gauge.set(1)

    @property
    def writable(self) -> bool:
        return self._writable

    def on_change(self, listener: Callable[[bool], None]) -> None:
        """Call `listener(writable)` on every change (the server's readiness)."""
        self._listeners.append(listener)

    def failed(self, exc: OSError) -> None:
        with self._lock:
            self._next_probe = self._clock() + PROBE_INTERVAL_S
            if not self._writable:
                return
            self._writable = False
        log.error(
            "ingest outbox %s cannot write (%s): readiness NOT_SERVING, publishes answer"
            " UNAVAILABLE until a write succeeds (retried every %.0f s)",
            self.directory, exc.strerror or exc, PROBE_INTERVAL_S,
        )  # fmt: skip
        self._changed(False)

    def succeeded(self) -> None:
        if self._writable:  # the common path: one attribute read
            return
        with self._lock:
            if self._writable:
                return
            self._writable = True
        log.warning("ingest outbox %s writes again: readiness SERVING", self.directory)
        self._changed(True)

    def probe_if_due(self) -> None:
        """While writes fail, at most every PROBE_INTERVAL_S: try one write."""
        if self._writable or self._clock() < self._next_probe:
            return
        try:
            self._probe()
        except OSError as exc:
            self.failed(exc)
            return
        self.succeeded()

    def _probe(self) -> None:
        path = self.directory / PROBE_NAME
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                if os.write(fd, b"\0" * PROBE_BYTES) < PROBE_BYTES:
                    raise OSError(errno.ENOSPC, "short write: no space left")
                os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            path.unlink(missing_ok=True)

    def _changed(self, writable: bool) -> None:
        self.gauge.set(1 if writable else 0)
        for listener in self._listeners:
            listener(writable)
