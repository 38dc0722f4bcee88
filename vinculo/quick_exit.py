"""A service that has closed what it opened exits without walking its heap for garbage.

At exit the interpreter collects garbage over every module's objects before it
frees them: with the ~750 modules a service imports (gRPC, kafka-python, numpy,
protobuf, prometheus_client) that took 0.4-1.0 s of every stop on the 2-core test
machine, after the service had said "stopped" (measured: 0.36-1.01 s from the last
atexit handler to the process's end, 0.09-0.18 s with the objects frozen).
`gc.freeze()` moves every object tracked so far out of the collector's sight; atexit
handlers still run, logs are still flushed and objects freed by reference count
still run their finalizers. Only unreachable reference cycles are left to the
operating system, which takes the whole process's memory back anyway.
"""

from __future__ import annotations

import gc


def skip_the_last_collection() -> None:
    """Call once the service has stopped cleanly, right before returning its exit code."""
    gc.freeze()
