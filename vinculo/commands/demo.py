"""`vinculo demo`: the whole pipeline on a generated network, then rankings.

Starts the stack on free ports under a fresh data directory (so a running
`vinculo up` is not disturbed and old state does not leak in), feeds the
network from vinculo.demo_network through the gRPC ingest API, waits until
the scoring service has consumed every record and its answers are stable,
prints the focal owner's top and bottom 10 and network summary, and stops.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
from rich.console import Console
from rich.table import Table

from vinculo import demo_network
from vinculo import settings as settings_mod
from vinculo.client import scrape_metric, stream_events
from vinculo.commands.up import Stack, UpSettings, configure_logging
from vinculo.v1 import events_pb2, scoring_pb2, scoring_pb2_grpc

log = logging.getLogger("vinculo.demo")

CONSUMED_METRIC = "vinculo_scoring_events_consumed_total"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=7, help="network generator seed")
    parser.add_argument("--people", type=int, default=40, help="tracked people")
    parser.add_argument("--contacts", type=int, default=300, help="contacts of the focal owner")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temporary dir")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for scoring")


def run(args: argparse.Namespace) -> int:
    configure_logging()
    console = Console()
    started = time.perf_counter()
    network = demo_network.generate(
        seed=args.seed, people=args.people, focal_contacts=args.contacts
    )
    console.print(
        f"Generated {len(network.events):,} events among {len(network.tracked)} tracked people "
        f"({network.records():,} records with mirrored copies)."
    )
    with _data_dir(args.data_dir) as data_dir:
        base = settings_mod.load(UpSettings)  # honours VINCULO_KAFKA_BOOTSTRAP
        settings = replace(
            base, data_dir=data_dir, broker_port=0, ingest_grpc_port=0, ingest_metrics_port=0,
            scoring_grpc_port=0, scoring_metrics_port=0,
        )  # fmt: skip
        with Stack(settings) as stack:
            for line in stack.describe():
                log.info("%s", line)
            pipeline_s = _feed_and_wait(stack, network, args.timeout, console)
            _print_results(stack, network.focal, console)
    wall_s = time.perf_counter() - started
    console.print(
        f"\nWall time {wall_s:.1f} s (stack start to stop); pipeline {pipeline_s:.1f} s for "
        f"{len(network.events):,} events = [bold]{len(network.events) / pipeline_s:,.0f} events/s"
        f"[/bold] ingested, published and scored."
    )
    return 0


@contextlib.contextmanager
def _data_dir(given: Path | None) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="vinculo-demo-") as tmp:
        yield Path(tmp)


def _feed_and_wait(
    stack: Stack, network: demo_network.DemoNetwork, timeout_s: float, console: Console
) -> float:
    """Publish everything, wait until scored; returns the seconds it took."""
    started = time.perf_counter()
    with grpc.insecure_channel(stack.ingest.address) as channel:
        summary = stream_events(channel, network.events)
    published_s = time.perf_counter() - started
    console.print(
        f"Ingest: {summary.accepted:,} accepted, {summary.duplicates:,} duplicates, "
        f"{summary.rejected:,} rejected in {published_s:.1f} s "
        f"({len(network.events) / published_s:,.0f} events/s, acknowledged by Kafka)."
    )
    if summary.rejected:
        for rejection in summary.rejections[:5]:
            console.print(f"  rejected {rejection.event_id}: {rejection.reason}")
    expected = network.records() if not summary.rejected else 0
    _wait_scored(stack, network.focal, expected, started + timeout_s)
    return time.perf_counter() - started


def _wait_scored(stack: Stack, owner: str, expected_records: int, deadline: float) -> None:
    """Until the scoring service consumed every record and the summary stopped changing."""
    url = f"http://127.0.0.1:{stack.scoring.metrics_port}/metrics"
    previous: bytes | None = None
    with grpc.insecure_channel(stack.scoring.address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)  # type: ignore[no-untyped-call]
        while time.perf_counter() < deadline:
            consumed = scrape_metric(url, CONSUMED_METRIC)
            if consumed >= expected_records:
                current = _summary_bytes(stub, owner)
                if current is not None and current == previous:
                    return
                previous = current
            time.sleep(0.25)
    raise TimeoutError(f"scoring did not catch up with {expected_records} records in time")


def _summary_bytes(stub: scoring_pb2_grpc.ScoringServiceStub, owner: str) -> bytes | None:
    """The owner's summary as comparable bytes; None while the owner is not known yet."""
    request = scoring_pb2.GetNetworkSummaryRequest(owner_id=owner)
    try:
        reply = stub.GetNetworkSummary(request, timeout=10)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:  # before the first commit
            return None
        raise
    reply.ClearField("model_version")
    return bytes(reply.SerializeToString(deterministic=True))


def _tier(tier: int) -> str:
    name: str = events_pb2.Tier.Name(tier)
    return name.removeprefix("TIER_").lower()


def _days_ago(rel: scoring_pb2.Relationship) -> str:
    last = rel.signals.last_interaction.seconds
    return f"{(time.time() - last) / 86_400:.0f} d" if last else "-"


def _key_signals(rel: scoring_pb2.Relationship) -> str:
    s = rel.signals
    counts = ", ".join(
        f"{c.kind} {c.outbound}/{c.inbound}" + (f"/{c.mutual}" if c.mutual else "")
        for c in s.counts
        if c.outbound or c.inbound or c.mutual
    )
    met = f", met {s.in_person_meetings}x" if s.in_person_meetings else ""
    return f"recip {s.reciprocity:.2f}{met}; {counts}"


def _ranking_table(title: str, rels: list[scoring_pb2.Relationship]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("contact", "score", "tier", "last", "signals (out/in/mutual)"):
        table.add_column(column, overflow="fold")
    for rel in rels:
        table.add_row(
            rel.contact_id, f"{rel.score:.3f}", _tier(rel.tier), _days_ago(rel), _key_signals(rel)
        )
    return table


def _print_results(stack: Stack, owner: str, console: Console) -> None:
    with grpc.insecure_channel(stack.scoring.address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)  # type: ignore[no-untyped-call]
        for order, title in (
            (scoring_pb2.SORT_ORDER_STRONGEST_FIRST, f"Top 10 of {owner}'s network"),
            (scoring_pb2.SORT_ORDER_WEAKEST_FIRST, f"Bottom 10 of {owner}'s network"),
        ):
            request = scoring_pb2.ListRelationshipsRequest(
                owner_id=owner, page_size=10, order=order
            )
            reply = stub.ListRelationships(request, timeout=30)
            console.print(_ranking_table(title, list(reply.relationships)))
        summary = stub.GetNetworkSummary(
            scoring_pb2.GetNetworkSummaryRequest(owner_id=owner), timeout=30
        )
    console.print(_summary_table(summary))


def _summary_table(s: scoring_pb2.GetNetworkSummaryResponse) -> Table:
    table = Table(title=f"Network summary of {s.owner_id} (model {s.model_version})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("contacts", f"{s.total_contacts}")
    for tc in s.tier_counts:
        table.add_row(f"  tier {_tier(tc.tier)}", f"{tc.count}")
    table.add_row("relationship share", f"{s.relationship_share:.1%}")
    table.add_row("met in person", f"{s.met_in_person_share:.1%}")
    table.add_row(
        "reply rate to personalised outreach",
        f"{s.outreach_reply_rate:.1%} ({s.outreach_answered}/{s.outreach_sent})",
    )
    table.add_row("one-sided contacts", f"{s.one_sided_contacts}")
    f = s.funnel
    table.add_row(
        "funnel", f"{f.connections} connected → {f.engaged} engaged → "
        f"{f.relationships} relationships; {f.met} met",
    )  # fmt: skip
    return table
