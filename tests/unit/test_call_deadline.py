"""The deadline watchdog expires the calls still running, and only those."""

from __future__ import annotations

import threading
from typing import Any

from vinculo.call_deadline import DeadlineWatchdog


def test_only_calls_still_running_at_their_deadline_expire() -> None:
    expired: list[Any] = []
    fired = threading.Event()

    def on_expire(context: Any, max_s: float) -> None:
        expired.append((context, max_s))
        fired.set()

    watchdog = DeadlineWatchdog(0.05, on_expire)
    finished = watchdog.watch("finished-call")
    finished.done = True
    watchdog.watch("slow-call")
    assert fired.wait(5.0)
    assert expired == [("slow-call", 0.05)]
