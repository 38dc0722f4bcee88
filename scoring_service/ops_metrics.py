"""Operational gauges of a scoring instance: readiness and the state store's disk.

Read on each scrape (no work per event). The disk gauges feed the
"state store disk" alert in deploy/prometheus/rules.yml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge


def _store_bytes(database: Path) -> float:
    """The SQLite file with its write-ahead log and shared memory."""
    names = (database.name, f"{database.name}-wal", f"{database.name}-shm")
    paths = (database.parent / name for name in names)
    return float(sum(path.stat().st_size for path in paths if path.exists()))


class OpsMetrics:
    def __init__(self, registry: CollectorRegistry, database: Path) -> None:
        self.ready = Gauge(
            "vinculo_scoring_ready",
            "1 while the instance is ready (group joined, its partitions caught up), else 0.",
            registry=registry,
        )
        free = Gauge(
            "vinculo_scoring_store_disk_free_bytes",
            "Bytes free (for this user) on the file system holding the state store.",
            registry=registry,
        )
        free.set_function(lambda: float(shutil.disk_usage(database.parent).free))
        size = Gauge(
            "vinculo_scoring_store_disk_size_bytes",
            "Size in bytes of the file system holding the state store.",
            registry=registry,
        )
        size.set_function(lambda: float(shutil.disk_usage(database.parent).total))
        store = Gauge(
            "vinculo_scoring_store_bytes",
            "Bytes used by the state store (database, write-ahead log, shared memory).",
            registry=registry,
        )
        store.set_function(lambda: _store_bytes(database))

    def set_ready(self, ready: bool) -> None:
        self.ready.set(1 if ready else 0)
