"""Idle cost: CPU each process uses over a window with no events arriving."""

from __future__ import annotations

import time
from collections.abc import Mapping

import psutil


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def idle_cpu_percent(processes: Mapping[str, psutil.Process], window_s: float) -> dict[str, float]:
    """Percent of one core used by each process over `window_s` of wall time."""
    before = {name: cpu_seconds(p) for name, p in processes.items()}
    start = time.monotonic()
    time.sleep(window_s)
    elapsed = time.monotonic() - start
    return {
        name: (cpu_seconds(p) - before[name]) / elapsed * 100.0 for name, p in processes.items()
    }


def rss_mb(processes: Mapping[str, psutil.Process]) -> dict[str, float]:
    return {name: p.memory_info().rss / 2**20 for name, p in processes.items()}
