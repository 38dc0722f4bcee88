"""`python -m bench.run [--quick]`: the whole benchmark in one run.

Starts the embedded broker and both services (free ports, data under a
temporary directory), measures every peer and Vinculo in the same run, stops
everything (also on Ctrl-C), prints a table and writes
bench/results/latest.json and bench/results/latest.png.
"""

from __future__ import annotations

import argparse
import math
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from bench import (
    chart,
    cold_reads,
    cpu,
    mixed,
    pipeline,
    raw_kafka,
    report,
    scale,
    serving,
    watch_streams,
)
from bench.datasets import snap_events
from bench.stack import Stack
from bench.stats import ratio, wait_until


@dataclass(frozen=True)
class Profile:
    name: str
    snap_limit: int | None  # newest rows per SNAP file; None = all
    clients: int
    freshness_samples: int
    serving_sizes: tuple[int, ...]
    serving_duration_s: float
    serving_min_requests: int
    serving_c32_max_size: int | None  # quick mode: concurrency 32 only up to this size
    scale_checkpoints: tuple[int, ...]
    scale_probe: int
    idle_window_s: float
    cold_duration_s: float = 3.0  # per row of bench.cold_reads (30,000 relationships)
    mixed_duration_s: float = 20.0
    mixed_freshness_samples: int = 100
    watch_streams: int = 1000
    watch_seconds: float = 10.0


FULL = Profile("full", None, 4, 200, (100, 1000, 10_000, 30_000), 3.0, 50, None,
               (10_000, 100_000, 300_000, 1_000_000), 20_000, 20.0)  # fmt: skip
QUICK = Profile("quick", 8_000, 4, 40, (100, 1000, 30_000), 1.0, 20, 1000,
                (10_000, 30_000), 8_000, 10.0, 1.0, 8.0, 30, 200, 5.0)  # fmt: skip
COLD_SIZE = 30_000
WATCH_RATE = 100.0
CONCURRENCIES = (1, 32)
BENCH_CLIENT = "bench client"
SCORING_WORKERS = 16  # vinculo.grpc_server.ServiceServer's default pool, as the service uses


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _processes(stack: Stack) -> dict[str, psutil.Process]:
    processes = {name: p.ps for name, p in stack.services().items()}
    broker = stack.broker_ps()
    if broker is not None:
        processes["broker"] = broker
    processes[BENCH_CLIENT] = psutil.Process()  # the load generator and the raw peer
    return processes


def _per_event_us(cpu_s: dict[str, float], events: int) -> dict[str, float]:
    return {name: seconds / events * 1e6 for name, seconds in cpu_s.items()}


def measure_main(profile: Profile, root: Path, outbox: bool = True) -> dict[str, Any]:
    log("loading SNAP events")
    events = snap_events(profile.snap_limit, run_tag=str(int(time.time())))
    records = raw_kafka.records_for(events)
    per_event = len(records) / len(events)
    results: dict[str, Any] = {"events": len(events), "records_per_event": per_event,
                               "outbox": outbox}  # fmt: skip
    with Stack(root, outbox=outbox) as stack:
        ingest, scoring = stack.ingest, stack.scoring
        assert ingest is not None and scoring is not None
        processes = _processes(stack)
        log(f"raw kafka-python: {len(records)} records")
        raw, raw_cpu = cpu.cpu_spent(
            processes, lambda: raw_kafka.run(stack.broker.bootstrap, records, partitions=8)
        )
        results["raw_kafka_cpu_us_per_event"] = _per_event_us(raw_cpu, len(events))
        results["raw_kafka_eps"] = raw.eps / per_event
        results["raw_kafka"] = {**asdict(raw), "records_per_s": raw.eps,
                                "produce_records_per_s": raw.produce_eps,
                                "consume_records_per_s": raw.consume_eps}  # fmt: skip
        log(f"ingest -> scored: {len(events)} events, {profile.clients} clients")
        flow, flow_cpu = cpu.cpu_spent(
            processes,
            lambda: pipeline.throughput(ingest, scoring, events, profile.clients),
        )
        # Everything shares the cores: the summed CPU per event bounds the rate.
        results["ingest_cpu_us_per_event"] = _per_event_us(flow_cpu, len(events))
        results["stack_cpu_ratio"] = cpu.stack_cpu_ratio(
            results["ingest_cpu_us_per_event"], results["raw_kafka_cpu_us_per_event"], BENCH_CLIENT
        )
        results["ingest_cpu_bound_eps"] = cpu.cpu_bound_eps(flow_cpu, len(events))
        results["ingest_to_scored_eps"] = flow.events_per_s
        results["ingest_ratio"] = ratio(flow.events_per_s, results["raw_kafka_eps"])
        results["outbox_bytes_per_event"] = stack.outbox_bytes() / len(events)
        results["ingest"] = {**asdict(flow), "ingest_eps": flow.ingest_eps,
                             "records_per_s": flow.records_per_s}  # fmt: skip
        log(f"freshness: {profile.freshness_samples} samples")
        fresh = pipeline.freshness(ingest, scoring, profile.freshness_samples)
        results["freshness_p50_s"] = fresh.p50_s
        results["freshness_p99_s"] = fresh.p99_s
        results["freshness"] = asdict(fresh)
        log(f"serving: loading owners {profile.serving_sizes}")
        results["serving_load_s"] = serving.load_owners(stack, profile.serving_sizes)
        rows = serving.measure(stack, root, profile.serving_sizes, CONCURRENCIES,
                               profile.serving_duration_s, SCORING_WORKERS,
                               profile.serving_min_requests,
                               profile.serving_c32_max_size)  # fmt: skip
        results["serving"] = [row.as_dict() for row in rows]
        rate = results["ingest_to_scored_eps"] / 2
        log(f"mixed: {rate:,.0f} events/s with reads at c8 for {profile.mixed_duration_s} s")
        read_owners = [serving.owner_for(size) for size in profile.serving_sizes]
        results["mixed"] = mixed.run(ingest, scoring, events, read_owners, rate,
                                     profile.mixed_duration_s,
                                     profile.mixed_freshness_samples).as_dict()  # fmt: skip
        log(f"watch: {profile.watch_streams} streams, {WATCH_RATE:.0f} events/s")
        results["watch"] = watch_streams.run(ingest, scoring, profile.watch_streams, WATCH_RATE,
                                             profile.watch_seconds).as_dict()  # fmt: skip
        log("idle")
        lag_zero = lambda: scoring.metric("vinculo_scoring_consumer_lag") == 0  # noqa: E731
        wait_until(lag_zero, 60, 0.2, "consumer lag 0")
        services = {name: p for name, p in processes.items() if name != BENCH_CLIENT}
        # A steady state, not the tail of the watch row: its streams and pools wind down.
        results["idle_settle_s"] = cpu.settle(services)
        results["idle_cpu_percent"] = cpu.idle_cpu_percent(services, profile.idle_window_s)
        results["rss_mb"] = cpu.rss_mb(services)
        results["relationships_after_main"] = scoring.metric("vinculo_scoring_relationships")
    log(f"cold reads: {COLD_SIZE} relationships, three scoring processes")
    cold = cold_reads.run(root.parent / "cold", COLD_SIZE, profile.cold_duration_s, 30)
    results["cold_reads"] = [row.as_dict() for row in cold]
    return results


def targets(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    def row(size: int, method: str, concurrency: int) -> dict[str, Any] | None:
        for r in results["serving"]:
            if (r["relationships"], r["method"], r["concurrency"]) == (size, method, concurrency):
                return dict(r)
        return None

    out: dict[str, dict[str, Any]] = {}

    def add(name: str, value: float | None, limit: str, met: bool | None) -> None:
        out[name] = {"value": value, "limit": limit, "met": met}

    add("ingest->scored / raw kafka", results["ingest_ratio"], ">= 0.5",
        results["ingest_ratio"] >= 0.5)  # fmt: skip
    eps = results["ingest_to_scored_eps"]
    add("ingest->scored events/s", eps, ">= 10000", eps >= 10_000)
    stack = results.get("stack_cpu_ratio", math.nan)
    add("whole-stack CPU/event / raw kafka-python", stack, "<= 1.5", stack <= 1.5)
    add("freshness p99 s", results["freshness_p99_s"], "<= 1", results["freshness_p99_s"] <= 1)
    r = row(1000, "list_top10", 32)
    if r:
        add("top10@1k c32 p50 / echo", r["p50_vs_echo"], "<= 2", r["p50_vs_echo"] <= 2)
        add("top10@1k c32 p99 / echo", r["p99_vs_echo"], "<= 3", r["p99_vs_echo"] <= 3)
    r = row(30_000, "list_top10", 1)
    if r:
        add("top10@30k c1 p99 ms", r["p99_ms"], "<= 50", r["p99_ms"] <= 50)
    _cold_targets(results.get("cold_reads", []), add)
    _mixed_targets(results, add)
    rows = [s for s in results.get("scale", []) if s["relationships"] >= 10_000]
    if len(rows) >= 2:
        # Growth = cost on the growing store over cost on the reference store (the first
        # checkpoint's size) measured the same minute, at the largest: drift-free.
        span = f"{rows[-1]['relationships']:,} vs {rows[0]['reference_relationships']:,} rels"
        growth_of: dict[str, list[float]] = {
            "uniform per-event CPU": [
                s["cpu_us_per_event"] / s["reference_cpu_us_per_event"] for s in rows
            ],
            "uniform per-event wall": [s["reference_probe_eps"] / s["probe_eps"] for s in rows],
            "replay per-record CPU": [
                s["replay_cpu_us_per_record"] / s["reference_replay_cpu_us_per_record"]
                for s in rows
            ],
            "replay per-record wall": [s["reference_replay_rps"] / s["replay_rps"] for s in rows],
        }
        for label, growth in growth_of.items():
            add(f"{label}, growing/reference max ({span})", max(growth), "<= 1.2",
                max(growth) <= 1.2)  # fmt: skip
    bpr = results.get("bytes_per_relationship", math.nan)
    add("bytes on disk per relationship", bpr, "<= 1024", bpr <= 1024)
    for name in ("ingest_service", "scoring_service"):
        value = results["idle_cpu_percent"].get(name, math.nan)
        add(f"idle CPU % {name}", value, "<= 2", value <= 2)
    return out


def _cold_targets(rows: list[dict[str, Any]], add: Any) -> None:
    """Uncached = the owner's network changed since the last read (bench.cold_reads)."""
    for method in ("list_top10", "summary", "suggest"):
        c1 = cold_reads.find(rows, method, "changed", 1)
        if c1:
            add(f"{method}@30k c1 p99 ms, uncached (network changed since the last read)",
                c1["p99_ms"], "<= 50", c1["p99_ms"] <= 50)  # fmt: skip
        c8, hit8 = (
            cold_reads.find(rows, method, "changed", 8),
            cold_reads.find(rows, method, "cached", 8),
        )
        if c8 and hit8:
            x = ratio(c8["p99_ms"], hit8["p99_ms"])
            add(f"{method}@30k c8 p99 uncached / cached", x, "<= 5", x <= 5)


def _mixed_targets(results: dict[str, Any], add: Any) -> None:
    m = results.get("mixed")
    if m:
        add("mixed: freshness p99 s", m["freshness_p99_s"], "<= 1", m["freshness_p99_s"] <= 1)
        add("mixed: read p99 ms (c8)", m["read_p99_ms"], "<= 100", m["read_p99_ms"] <= 100)
    w = results.get("watch")
    if w:
        share = w["delivered"] / max(w["expected"], 1)
        add(f"watch: share of (stream, event) pairs delivered, {w['streams']} streams", share,
            ">= 1", share >= 1)  # fmt: skip
        add("watch: publish -> stream p99 s", w["p99_s"], "<= 1", w["p99_s"] <= 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small run, under 2 minutes")
    parser.add_argument("--skip-scale", action="store_true", help="leave out the scale run")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--out", type=Path, default=report.RESULTS_DIR / "latest.json")
    parser.add_argument(
        "--no-outbox", action="store_true", help="ingest without its outbox: the cost of durability"
    )
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    signal.signal(signal.SIGTERM, _interrupt)
    root = Path(tempfile.mkdtemp(prefix="vinculo-bench-"))
    started = time.perf_counter()
    try:
        results: dict[str, Any] = {"mode": profile.name, "started_at": time.time()}
        results.update(measure_main(profile, root / "main", outbox=not args.no_outbox))
        if not args.skip_scale:
            log(f"scale: checkpoints {profile.scale_checkpoints}")
            rows = scale.run(root / "scale", profile.scale_checkpoints, profile.scale_probe)
            results["scale"] = [r.as_dict() for r in rows]
            results["bytes_per_relationship"] = rows[-1].bytes_per_relationship
        else:
            results["scale"] = []
            results["bytes_per_relationship"] = math.nan
        results["targets"] = targets(results)
        results["wall_s"] = time.perf_counter() - started
        results["machine"] = report.machine_info()
        results["profile"] = asdict(profile)
    except KeyboardInterrupt:
        print("\ninterrupted: every process was stopped", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    problems = report.validate(results)
    report.write_json(results, args.out)
    chart.draw(results, args.out.with_suffix(".png"))
    print()
    print(report.table(results))
    print(f"\nwrote {args.out} and {args.out.with_suffix('.png')} in {results['wall_s']:.0f} s")
    if problems:
        print("incomplete results: " + "; ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
