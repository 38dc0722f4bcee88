"""Reads the per-owner cache does not answer, against the cached ones, in the same minute.

`python -m bench.cold_reads [--quick]` (and a step of `bench.run`).

A read "as of now" misses the cache of scored networks in two ways, and each
is measured on its own scoring process (its own consumer group, all fed by one
broker, so the three hold the same state and share the machine's minute):

- `changed`: the owner's network changed since the last read. The cache then
  holds the owner's committed states (carried forward by the commit) but no
  scored network: the read scores all of it again. Made to happen on every
  read with `--cache-ttl-s 1e-6` (an entry is stale as soon as it is stored,
  and its states are kept, exactly as after a commit). Concurrent reads of one
  owner share one computation, as they do after a real commit.
- `store`: nothing of the owner is in memory (the first read after a start or
  after an eviction): `--cache-owners 0`, every read fetches and decodes the
  owner's rows from SQLite and scores them (concurrency 1 only).
- `cached`: the default settings, the same reads answered from the cache.

For ListRelationships (top 10), GetNetworkSummary and SuggestActions over the
owner with the most relationships, at concurrency 1 and 8 (closed loop,
`bench.loadgen`). The targets compare `changed` with `cached`.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.datasets import synthetic_events
from bench.loadgen import run_load, unary_call
from bench.raw_kafka import publish_direct
from bench.stack import Service
from bench.stats import wait_until
from vinculo.v1 import scoring_pb2
from vinculo_apps.devstack.broker import EmbeddedBroker
from vinculo_apps.devstack.stack import DevStack

SERVICE = "/vinculo.v1.ScoringService/"
CONSUMED = "vinculo_scoring_events_consumed_total"
MODES: dict[str, list[str]] = {
    "cached": [],
    "changed": ["--cache-ttl-s", "1e-6"],
    "store": ["--cache-owners", "0"],
}
CONCURRENCIES = (1, 8)


def owner_for(size: int) -> str:
    return f"cold:n{size}"


def calls(owner: str) -> dict[str, tuple[str, bytes, Any]]:
    """method label -> (path, request bytes, response decoder)."""
    return {
        "list_top10": (
            SERVICE + "ListRelationships",
            scoring_pb2.ListRelationshipsRequest(owner_id=owner, page_size=10).SerializeToString(),
            scoring_pb2.ListRelationshipsResponse.FromString,
        ),
        "summary": (
            SERVICE + "GetNetworkSummary",
            scoring_pb2.GetNetworkSummaryRequest(owner_id=owner).SerializeToString(),
            scoring_pb2.GetNetworkSummaryResponse.FromString,
        ),
        "suggest": (
            SERVICE + "SuggestActions",
            scoring_pb2.SuggestActionsRequest(owner_id=owner).SerializeToString(),
            scoring_pb2.SuggestActionsResponse.FromString,
        ),
    }


@dataclass(frozen=True)
class ColdRow:
    relationships: int
    method: str
    mode: str  # cached, changed or store
    concurrency: int
    p50_ms: float
    p99_ms: float
    qps: float
    requests: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _services(root: Path, bootstrap: str) -> dict[str, Service]:
    return {
        mode: Service(
            "scoring_service",
            root / mode,
            bootstrap,
            root / f"scoring-{mode}.log",
            ["--consumer-group", f"bench-cold-{mode}", *args],
            name=f"scoring ({mode})",
        )
        for mode, args in MODES.items()
    }


def run(
    root: Path, size: int, duration_s: float, min_requests: int, timeout_s: float = 600.0
) -> list[ColdRow]:
    """A broker and the three scoring processes under `root`, all stopped at the end."""
    root.mkdir(parents=True, exist_ok=True)
    broker = EmbeddedBroker(log_path=root / "broker.log")
    broker.start()
    services = _services(root, broker.bootstrap)
    with DevStack(list(services.values()), broker):
        owner = owner_for(size)
        records, _ = publish_direct(
            broker.bootstrap, synthetic_events(owner, range(size), seed=size, tag="cold")
        )
        for service in services.values():
            wait_until(
                lambda s=service: s.metric(CONSUMED) >= records,  # type: ignore[misc]
                timeout_s,
                0.2,
                f"{service.label} loaded",
            )
        return _measure(services, owner, size, duration_s, min_requests)


def _measure(
    services: dict[str, Service], owner: str, size: int, duration_s: float, min_requests: int
) -> list[ColdRow]:
    rows = []
    for method, (path, request, decode) in calls(owner).items():
        for concurrency in CONCURRENCIES:
            for mode, service in services.items():
                if mode == "store" and concurrency > 1:
                    continue  # seconds per call at c8: informational at c1 only
                result = run_load(
                    service.address,
                    unary_call(path, request, decode),
                    concurrency,
                    duration_s,
                    min_requests,
                )
                rows.append(
                    ColdRow(
                        size,
                        method,
                        mode,
                        concurrency,
                        result.p50_ms,
                        result.p99_ms,
                        result.qps,
                        result.count,
                    )
                )
    return rows


def find(
    rows: Sequence[dict[str, Any]], method: str, mode: str, concurrency: int
) -> dict[str, Any] | None:
    for row in rows:
        if (row["method"], row["mode"], row["concurrency"]) == (method, mode, concurrency):
            return row
    return None


def table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Printed lines: one per method, mode and concurrency."""
    lines = [
        "Reads the cache does not answer (changed: the owner's network changed since the last"
        " read, states in memory; store: from SQLite; cached: the same read from the cache)",
        f"  {'rels':>7} {'method':<11} {'mode':<8} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'qps':>7}",
    ]
    for row in rows:
        lines.append(
            f"  {row['relationships']:>7} {row['method']:<11} {row['mode']:<8}"
            f" {row['concurrency']:>4} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f}"
            f" {row['qps']:>7.0f}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=30_000, help="relationships of the owner")
    parser.add_argument("--duration-s", type=float, default=3.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vinculo-cold-") as root:
        rows = [r.as_dict() for r in run(Path(root), args.size, args.duration_s, 30)]
    print("\n".join(table(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
