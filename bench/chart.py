"""The PNG chart of one run's results (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def draw(results: Mapping[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    fig.suptitle(f"Vinculo benchmark ({results.get('mode')}), ratios to peers in the same run")

    ax = axes[0][0]
    labels = ["raw kafka-python", "ingest -> scored"]
    values = [results["raw_kafka_eps"] or 0, results["ingest_to_scored_eps"] or 0]
    ax.bar(labels, values, color=["#888888", "#2a6fb0"])
    ax.set_ylabel("events/s (event + mirror)")
    ax.set_title(f"Throughput; ratio {results.get('ingest_ratio') or 0:.2f}")

    ax = axes[0][1]
    for method, concurrency, style in (
        ("list_top10", 1, "o-"),
        ("list_top10", 32, "s-"),
        ("get", 1, "o--"),
        ("get", 32, "s--"),
    ):
        rows = [
            r
            for r in results["serving"]
            if r["method"] == method and r["concurrency"] == concurrency
        ]
        if rows:
            sizes = [r["relationships"] for r in rows]
            ax.plot(sizes, [r["p99_ms"] for r in rows], style, label=f"{method} c{concurrency} p99")
            ax.axhline(rows[0]["echo_p99_ms"], linestyle=":", linewidth=0.8, color="grey")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("relationships of the owner")
    ax.set_ylabel("ms (dotted: echo p99)")
    ax.set_title("Serving latency p99")
    ax.legend(fontsize=8)

    scale = results.get("scale", [])
    ax = axes[1][0]
    if scale:
        sizes = [r["relationships"] for r in scale]
        ax.plot(sizes, [r["cpu_us_per_event"] for r in scale], "o-", label="uniform CPU us/event")
        reference = [r["reference_cpu_us_per_event"] for r in scale]
        ax.plot(sizes, reference, "o:", label="uniform, reference store, same minute")
        replay_cpu = [r["replay_cpu_us_per_record"] for r in scale]
        ax.plot(sizes, replay_cpu, "s--", label="replay CPU us/record")
        reference = [r["reference_replay_cpu_us_per_record"] for r in scale]
        ax.plot(sizes, reference, "s:", label="replay, reference store, same minute")
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    ax.set_xlabel("relationships in the store")
    ax.set_title("Per-event CPU of the scoring consumer")

    ax = axes[1][1]
    if scale:
        sizes = [r["relationships"] for r in scale]
        ax.plot(sizes, [r["bytes_per_relationship"] for r in scale], "o-", label="bytes/rel")
        ax.axhline(1024, linestyle=":", color="red", label="1 KiB target")
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        twin = ax.twinx()
        twin.plot(sizes, [r["scoring_rss_mb"] for r in scale], "^-", color="green", label="RSS")
        twin.set_ylabel("scoring RSS MB")
        twin.set_ylim(bottom=0)
        ax.legend(fontsize=8, loc="upper left")
    ax.set_xlabel("relationships in the store")
    ax.set_title("Disk per relationship, memory")

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
