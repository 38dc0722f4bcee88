"""`python -m bench.profile_pipeline [--py-spy DIR]`: the quick pipeline row alone, for profiling.

Starts the bench stack, runs the raw kafka-python peer and ingest -> scored on the
quick profile's events (the same rows as `bench.run --quick`), optionally with
py-spy recording both services meanwhile, then measures idle CPU over
`--idle-s` seconds. Prints CPU µs/event per process (and each service's per thread,
from /proc) and the ratios; writes
py-spy's collapsed stacks to DIR (top frames: `bench.profile_top`).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import psutil

from bench import cpu, pipeline, raw_kafka
from bench.datasets import snap_events
from bench.run import BENCH_CLIENT, QUICK, _per_event_us, _processes
from bench.stack import Stack
from bench.stats import wait_until
from bench.threads import spy, thread_cpu, thread_names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--py-spy", type=Path, default=None, help="write profiles here")
    parser.add_argument(
        "--gil", action="store_true", help="sample only the GIL holder (waits not counted)"
    )
    parser.add_argument("--idle-s", type=float, default=30.0)
    parser.add_argument("--limit", type=int, default=QUICK.snap_limit)
    args = parser.parse_args(argv)
    events = snap_events(args.limit, run_tag=str(int(time.time())))
    records = raw_kafka.records_for(events)
    root = Path(tempfile.mkdtemp(prefix="vinculo-profile-"))
    try:
        with Stack(root) as stack:
            ingest, scoring = stack.ingest, stack.scoring
            assert ingest is not None and scoring is not None
            processes = _processes(stack)
            raw, raw_cpu = cpu.cpu_spent(
                processes, lambda: raw_kafka.run(stack.broker.bootstrap, records, partitions=8)
            )
            spies = []
            if args.py_spy is not None:
                args.py_spy.mkdir(parents=True, exist_ok=True)
                spies = [
                    spy(args.py_spy, n, s.ps.pid, args.gil) for n, s in stack.services().items()
                ]
                time.sleep(1.0)
            services = {n: p for n, p in processes.items() if n in stack.services()}
            names = {n: thread_names(p.pid) for n, p in services.items()}
            start = {n: thread_cpu(p.pid, names[n]) for n, p in services.items()}
            flow, flow_cpu = cpu.cpu_spent(
                processes, lambda: pipeline.throughput(ingest, scoring, events, QUICK.clients)
            )
            _print_threads(services, names, start, len(events))
            for recorder in spies:
                recorder.send_signal(2)  # SIGINT: py-spy writes its output and exits
            for recorder in spies:
                recorder.wait(60)
            raw_us = _per_event_us(raw_cpu, len(events))
            flow_us = _per_event_us(flow_cpu, len(events))
            raw_eps = raw.eps / (len(records) / len(events))
            print(f"events {len(events)}, records {len(records)}")
            print(f"raw kafka-python {raw_eps:,.0f} events/s, CPU us/event {_fmt(raw_us)}")
            print(f"ingest -> scored {flow.events_per_s:,.0f} events/s, CPU us/event "
                  f"{_fmt(flow_us)}")  # fmt: skip
            # Whole stack: the services and the broker (not the load generator), against
            # the raw client and the broker.
            stack_us = sum(v for n, v in flow_us.items() if n != BENCH_CLIENT)
            raw_total = sum(raw_us.values())
            print(f"ratio {flow.events_per_s / raw_eps:.2f}x raw; whole-stack CPU "
                  f"{stack_us:.0f} vs raw {raw_total:.0f} us/event "
                  f"({stack_us / raw_total:.2f}x)")  # fmt: skip
            lag_zero = lambda: scoring.metric("vinculo_scoring_consumer_lag") == 0  # noqa: E731
            wait_until(lag_zero, 60, 0.2, "consumer lag 0")
            cpu.settle(services)
            names = {n: thread_names(p.pid) for n, p in services.items()}
            before = {n: thread_cpu(p.pid, names[n]) for n, p in services.items()}
            idle = cpu.idle_cpu_percent(services, args.idle_s)
            print("idle CPU % " + ", ".join(f"{n} {v:.1f}" for n, v in idle.items()))
            for name, process in services.items():
                spent = thread_cpu(process.pid, names[name])
                busiest = sorted(
                    ((t - before[name].get(thread, 0.0), thread) for thread, t in spent.items()),
                    reverse=True,
                )[:6]
                print(f"  {name} threads, % of a core: " + ", ".join(
                    f"{thread} {100 * t / args.idle_s:.2f}" for t, thread in busiest))  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def _print_threads(
    services: dict[str, psutil.Process],
    names: dict[str, dict[str, str]],
    start: dict[str, dict[str, float]],
    events: int,
) -> None:
    """Each service's CPU us/event per thread over the flow (busiest first)."""
    for name, process in services.items():
        spent = thread_cpu(process.pid, names[name])
        per = sorted(
            ((t - start[name].get(thread, 0.0), thread) for thread, t in spent.items()),
            reverse=True,
        )[:8]
        print(f"  {name} CPU us/event by thread: " + ", ".join(
            f"{thread} {t / events * 1e6:.1f}" for t, thread in per if t > 0))  # fmt: skip


def _fmt(us: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.0f}" for name, value in us.items())


if __name__ == "__main__":
    raise SystemExit(main())
