"""What the health service reports as ready, kept in step with the conditions behind it.

Two threads publish it: the main loop, which looks every half second (the broker, the
store), and the partition directory's callback on the consumer thread (partitions
caught up or moving). Each used to compare with its own memory of what it had
published, so a callback's SERVING could stand after the store stopped taking writes:
the main loop still remembered NOT_SERVING and saw nothing to change. One record of what
was published, under one lock, for both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Readiness:
    def __init__(self, ready: Callable[[], bool], publish: Callable[[bool], None]) -> None:
        self._ready = ready
        self._publish = publish
        self._lock = threading.Lock()
        self._published: bool | None = None

    def refresh(self) -> None:
        """Publish the readiness the conditions give now, if it is not the published one."""
        with self._lock:
            now = self._ready()
            if now != self._published:
                self._publish(now)
                self._published = now
