"""`python -m bench.ingest_cpu [--rounds 3] [--limit N] [--idle-s 20]`: CPU per event by thread.

Starts the bench stack (outbox on), publishes the quick profile's SNAP events through
PublishEvents (4 clients, batches of 1,000; `bench.pipeline.throughput`) `--rounds`
times with fresh ids, and prints each service's CPU µs per event, the ingest
service's split by thread (gRPC's own C threads named by the kernel, Python ones
by py-spy), then the settled idle CPU % of each service and its busiest threads.
Through real processes, for before/after pairs of the ingest side (issue 21).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from bench import cpu, pipeline
from bench.datasets import snap_events
from bench.run import QUICK, _per_event_us, _processes
from bench.stack import Service, Stack
from bench.stats import wait_until
from bench.threads import kernel_thread_names, spy, thread_cpu, thread_names


def _by_thread(pid: int, names: dict[str, str], before: dict[str, float]) -> dict[str, float]:
    """CPU seconds per thread name since `before` (keyed "tid N", as `thread_cpu({})`)."""
    spent: dict[str, float] = {}
    for tid, seconds in thread_cpu(pid, {}).items():
        name = names.get(tid.removeprefix("tid "), tid)
        spent[name] = spent.get(name, 0.0) + seconds - before.get(tid, 0.0)
    return spent


def _group(spent: dict[str, float]) -> dict[str, float]:
    """Threads of one kind summed: gRPC workers, kernel-named C threads ("tid N" by name)."""
    grouped: dict[str, float] = {}
    for thread, seconds in spent.items():
        kind = thread.split("_")[0] if thread.startswith("ThreadPoolExecutor") else thread
        grouped[kind] = grouped.get(kind, 0.0) + seconds
    return grouped


def _publish(ingest: Service, scoring: Service, events: list[Any]) -> pipeline.ThroughputResult:
    return pipeline.throughput(ingest, scoring, events, QUICK.clients)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=QUICK.snap_limit)
    parser.add_argument("--idle-s", type=float, default=20.0)
    parser.add_argument("--py-spy", type=Path, default=None, help="record the rounds' ingest here")
    parser.add_argument("--gil", action="store_true", help="py-spy samples only the GIL holder")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="vinculo-ingest-cpu-"))
    try:
        with Stack(root) as stack:
            ingest, scoring = stack.ingest, stack.scoring
            assert ingest is not None and scoring is not None
            processes = _processes(stack)
            warm = snap_events(500, run_tag=f"w{int(time.time())}")
            pipeline.throughput(ingest, scoring, warm, QUICK.clients)
            pid = ingest.ps.pid
            recorder = None
            if args.py_spy is not None:
                args.py_spy.mkdir(parents=True, exist_ok=True)
                recorder = spy(args.py_spy, "ingest_service", pid, gil=args.gil)
                time.sleep(1.0)
            for round_ in range(args.rounds):
                events = snap_events(args.limit, run_tag=f"r{round_}{int(time.time())}")
                before = thread_cpu(pid, {})  # by thread id; named after the round
                flow, spent = cpu.cpu_spent(processes, partial(_publish, ingest, scoring, events))
                names = {**kernel_thread_names(pid), **thread_names(pid)}  # pools grow on demand
                threads = _group(_by_thread(pid, names, before))
                us = _per_event_us(spent, len(events))
                print(f"round {round_}: {len(events)} events, ingest {flow.ingest_eps:,.0f} ev/s; "
                      + ", ".join(f"{n} {v:.1f}" for n, v in us.items()) + " us/event")  # fmt: skip
                busiest = sorted(((s, t) for t, s in threads.items()), reverse=True)[:10]
                print("  ingest threads us/event: " + ", ".join(
                    f"{t} {s / len(events) * 1e6:.1f}" for s, t in busiest if s > 0))  # fmt: skip
            if recorder is not None:
                recorder.send_signal(2)  # SIGINT: py-spy writes its output and exits
                recorder.wait(60)
            lag_zero = lambda: scoring.metric("vinculo_scoring_consumer_lag") == 0  # noqa: E731
            wait_until(lag_zero, 60, 0.2, "consumer lag 0")
            services = {n: p for n, p in processes.items() if n in stack.services()}
            cpu.settle(services)
            all_names = {
                n: {**kernel_thread_names(p.pid), **thread_names(p.pid)}
                for n, p in services.items()
            }
            before_idle = {n: thread_cpu(p.pid, {}) for n, p in services.items()}
            idle = cpu.idle_cpu_percent(services, args.idle_s)
            print("idle CPU % " + ", ".join(f"{n} {v:.2f}" for n, v in idle.items()))
            for name, process in services.items():
                spent_idle = _by_thread(process.pid, all_names[name], before_idle[name])
                busiest = sorted(((s, t) for t, s in spent_idle.items()), reverse=True)[:8]
                print(f"  {name} threads, % of a core: " + ", ".join(
                    f"{t} {100 * s / args.idle_s:.2f}" for s, t in busiest if s > 0))  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
