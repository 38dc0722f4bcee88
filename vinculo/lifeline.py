"""The lifeline: a service started by a launcher stops when the launcher is gone.

A launcher (`vinculo up`, the tests, the bench; vinculo_apps.devstack) makes a
pipe per child, keeps the write end and passes the read end with
`--lifeline-fd N` (`VINCULO_LIFELINE_FD`). Nothing is ever written to it. When
the launcher exits, however it exits (SIGKILL, an OOM kill, pytest-timeout),
the kernel closes its write end and a read here returns end-of-file: the
service then stops as on SIGTERM (it flushes, commits and removes its ready
file). A blocked read costs no CPU. If the graceful stop has not finished
within `grace_s`, the process exits at once, as in a crash, which both services
are built to survive (the ingest outbox, decision 11; state and offsets commit
together, decision 2): the broker dies with the launcher too, and a stop that
waits for it (the raw bridge's producer flush, 10 s) must not keep a process
alive (docs/decisions/0014-children-die-with-their-launcher.md).
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from vinculo.settings import SettingsError

log = logging.getLogger("vinculo.lifeline")

GRACE_S = 5.0  # a stop with its broker alive takes ~0.2 s (ingest) and ~1 s (scoring)
EXIT_CODE = 3  # the graceful stop overran: exited without finishing it


class LifelineError(SettingsError):
    """The fd given is not an open file descriptor of this process."""


def watch(fd: int, grace_s: float = GRACE_S) -> threading.Thread | None:
    """Stop this process when `fd` reaches end-of-file; `fd` < 0: no lifeline (None)."""
    if fd < 0:
        return None
    try:
        os.fstat(fd)
    except OSError as exc:
        raise LifelineError(f"lifeline_fd: {fd}: {exc.strerror}; it must be inherited") from exc
    thread = threading.Thread(
        target=_wait_for_end, args=(fd, grace_s), name="lifeline", daemon=True
    )
    thread.start()
    return thread


def _wait_for_end(fd: int, grace_s: float) -> None:
    while True:
        try:
            if not os.read(fd, 4096):
                break  # end-of-file: every write end is closed, the launcher is gone
        except OSError as exc:
            log.warning("lifeline fd %d unreadable (%s): treating the launcher as gone", fd, exc)
            break
    log.warning("the launcher is gone (lifeline closed): stopping")
    os.kill(os.getpid(), signal.SIGTERM)  # the service's own graceful stop
    # A daemon thread: a stop that finishes ends the process, and this sleep with it.
    threading.Event().wait(grace_s)
    log.error("still running %.0f s after the launcher went away: exiting now", grace_s)
    os._exit(EXIT_CODE)
