"""A service's long-lived objects kept out of the garbage collector's sight: at start, and at exit.

At start (`freeze_startup_heap`):
A service imports ~750 modules and builds its clients before the first call: ~60,000
tracked objects that live as long as the process. Every full (oldest-generation)
collection walked all of them again; under ingest load those passes took 38 ms each and
~8 µs of CPU per event, 15-20% of the ingest service's CPU (measured with gc.callbacks
in the ingest process, 2026-12-05, docs/experiments/2026-12-05-cpu-ingest.md).
`gc.freeze()` moves every object tracked so far to a generation the collector does not
walk; objects made later are collected as before. A collection first frees the start's
own garbage, so that nothing unreachable is frozen with the rest.

At exit (`skip_the_last_collection`): the interpreter collects garbage over every
module's objects before it frees them, which took 0.4-1.0 s of every stop on the 2-core
test machine after the service had said "stopped" (0.36-1.01 s from the last atexit
handler to the process's end, 0.09-0.18 s with the objects frozen). Atexit handlers
still run, logs are still flushed, and objects freed by reference count still run
their finalizers; only unreachable cycles are left to the operating system, which
takes the process's memory back anyway.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Call once the service is built and serving (again after a late part, if any)."""
    gc.collect()
    gc.freeze()


def skip_the_last_collection() -> None:
    """Call once the service has stopped cleanly, right before returning its exit code."""
    gc.freeze()
