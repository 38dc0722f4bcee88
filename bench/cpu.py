"""CPU accounting of the processes in a run: idle cost, and CPU per event under load."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

import psutil

T = TypeVar("T")


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


def settle(
    processes: Mapping[str, psutil.Process],
    step_s: float = 2.0,
    max_s: float = 30.0,
    tolerance_percent: float = 0.2,
) -> float:
    """Wait until every process's CPU stops falling (what a row just before left running,
    streams closing, checkpoints, pools draining, is over): consecutive `step_s` windows
    within `tolerance_percent` points of a core, or `max_s`. Returns the seconds waited."""
    start = time.monotonic()
    previous: dict[str, float] | None = None
    while time.monotonic() - start < max_s:
        current = idle_cpu_percent(processes, step_s)
        if previous is not None and all(
            current[name] <= previous[name] + tolerance_percent
            and previous[name] <= current[name] + tolerance_percent
            for name in processes
        ):
            break
        previous = current
    return time.monotonic() - start


def cpu_spent(
    processes: Mapping[str, psutil.Process], work: Callable[[], T]
) -> tuple[T, dict[str, float]]:
    """Run `work`; return its result and the CPU seconds each process spent meanwhile."""
    before = {name: cpu_seconds(p) for name, p in processes.items()}
    result = work()
    return result, {name: cpu_seconds(p) - before[name] for name, p in processes.items()}


def cpu_bound_eps(cpu_s: Mapping[str, float], events: int, cores: int | None = None) -> float:
    """Events/s the machine's cores could carry at this CPU cost per event, if nothing idled.

    The processes share the cores, so their summed CPU per event bounds the rate."""
    total = sum(cpu_s.values())
    return (cores or os.cpu_count() or 1) * events / total if total > 0 else float("nan")


def rss_mb(processes: Mapping[str, psutil.Process]) -> dict[str, float]:
    return {name: p.memory_info().rss / 2**20 for name, p in processes.items()}


def stack_cpu_ratio(
    stack_us: Mapping[str, float], raw_us: Mapping[str, float], load_generator: str
) -> float:
    """Whole-stack CPU per event (every process but the load generator: the services and
    the broker) over the raw peer's (its client and the broker), from one run."""
    stack = sum(us for name, us in stack_us.items() if name != load_generator)
    raw = sum(raw_us.values())
    return stack / raw if raw > 0 else float("nan")
