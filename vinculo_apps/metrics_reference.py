"""The metrics reference, generated from the services' own metric definitions.

`python -m vinculo_apps.metrics_reference --write` rewrites the tables between
the markers in README.md and docs/operations.md; tests/unit/test_metrics_reference.py
fails when either is stale.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prometheus_client import CollectorRegistry

from ingest_service.metrics import IngestMetrics, RawBridgeMetrics
from scoring_service.metrics import ScoringMetrics
from scoring_service.ops_metrics import OpsMetrics
from scoring_service.routing.directory import PartitionDirectory
from scoring_service.routing.forwarding import ForwardingInterceptor
from vinculo.grpc_metrics import GrpcMetrics
from vinculo_apps.generated_docs import replace_marked

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- metrics-reference:begin -->", "<!-- metrics-reference:end -->"
TARGETS = (ROOT / "README.md", ROOT / "docs" / "operations.md")


def _registries() -> list[tuple[str, CollectorRegistry]]:
    both, ingest, scoring = CollectorRegistry(), CollectorRegistry(), CollectorRegistry()
    GrpcMetrics(both)
    IngestMetrics(ingest)
    RawBridgeMetrics(ingest)
    ScoringMetrics(scoring).set_model("version", 1, None)  # the info's label names
    OpsMetrics(scoring, ROOT / "no-state.db")  # gauges read on collection: any directory
    ForwardingInterceptor(PartitionDirectory(1, ""), 0.0, scoring)
    return [("both", both), ("ingest", ingest), ("scoring", scoring)]


def _labels(registry: CollectorRegistry) -> dict[str, tuple[str, ...]]:
    # prometheus_client keeps a metric's label names on the collector, not the family.
    collectors = getattr(registry, "_collector_to_names", {})
    return {
        name: tuple(getattr(collector, "_labelnames", ()))
        for collector, names in collectors.items()
        for name in names
    }


def table() -> str:
    rows = ["| metric | type | labels | service | meaning |", "|---|---|---|---|---|"]
    for service, registry in _registries():
        labels = _labels(registry)
        for family in registry.collect():
            name = family.name + ("_total" if family.type == "counter" else "")
            name += "_info" if family.type == "info" else ""
            names = labels.get(name, ()) or labels.get(family.name, ())
            if family.type == "info":
                names = tuple(sorted({k for s in family.samples for k in s.labels}))
            shown = ", ".join(f"`{label}`" for label in names) or "-"
            doc = family.documentation.replace("|", "\\|")
            rows.append(f"| `{name}` | {family.type} | {shown} | {service} | {doc} |")
    return "\n".join(rows)


def render(text: str) -> str:
    return replace_marked(text, BEGIN, END, table())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite the files in place")
    args = parser.parse_args(argv)
    if not args.write:
        print(table())
        return 0
    for path in TARGETS:
        path.write_text(render(path.read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
