"""The objects a service builds at start, kept out of the garbage collector's full passes.

A service imports ~750 modules and builds its clients before the first call: ~60,000
tracked objects that live as long as the process. Every full (oldest-generation)
collection walked all of them again; under ingest load those passes took 38 ms each and
~8 µs of CPU per event, 15-20% of the ingest service's CPU (measured with gc.callbacks
in the ingest process, 2026-12-05, docs/experiments/2026-12-05-cpu-ingest.md).
`gc.freeze()` moves every object tracked so far to a generation the collector does not
walk; objects made later are collected as before. A collection first frees the start's
own garbage, so that nothing unreachable is frozen with the rest.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Call once the service is built and serving (again after a late part, if any)."""
    gc.collect()
    gc.freeze()
