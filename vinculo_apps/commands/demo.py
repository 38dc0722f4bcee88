"""`vinculo demo`: the whole pipeline on a generated network, then the report.

Starts the stack on free ports under a fresh data directory (so a running
`vinculo up` is not disturbed and old state does not leak in), feeds the
network from vinculo_apps.demo_network through the gRPC ingest API, waits until
the scoring service has consumed every record and its answers are stable,
then shows the focal owner's report exactly as `vinculo report` does
(vinculo_apps.report: strongest and weakest ties, tiers, funnel, reply rate,
suggestions), writes its HTML page (`--html`, default ./vinculo-report.html),
and stops everything.
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

from vinculo import settings as settings_mod
from vinculo.v1 import scoring_pb2, scoring_pb2_grpc
from vinculo_apps import demo_network
from vinculo_apps.acked_stream import publish_stream
from vinculo_apps.client import scrape_metric
from vinculo_apps.commands.up import Stack, UpSettings, configure_logging
from vinculo_apps.report import html, terminal
from vinculo_apps.report.data import fetch

log = logging.getLogger("vinculo.demo")

CONSUMED_METRIC = "vinculo_scoring_events_consumed_total"
DEFAULT_HTML = Path("vinculo-report.html")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=7, help="network generator seed")
    parser.add_argument("--people", type=int, default=40, help="tracked people")
    parser.add_argument("--contacts", type=int, default=300, help="contacts of the focal owner")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temporary dir")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for scoring")
    parser.add_argument(
        "--html", type=Path, default=DEFAULT_HTML, help=f"HTML report path [{DEFAULT_HTML}]"
    )
    parser.add_argument("--top", type=int, default=10, help="rows in the top and bottom tables")


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
            report_s = _show_report(stack, network.focal, args.html, args.top, console)
    wall_s = time.perf_counter() - started
    console.print(
        f"\nWall time {wall_s:.1f} s (stack start to stop); pipeline {pipeline_s:.1f} s for "
        f"{len(network.events):,} events = [bold]{len(network.events) / pipeline_s:,.0f} events/s"
        f"[/bold] ingested, published and scored; report {report_s:.2f} s."
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
        summary = publish_stream(channel, network.events)
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


def _show_report(stack: Stack, owner: str, html_path: Path, top: int, console: Console) -> float:
    """The owner's report in the terminal and as an HTML page; returns the seconds it took."""
    started = time.perf_counter()
    data = fetch(stack.scoring.address, owner)
    console.print()
    terminal.render(data, console, top=top)
    html_path.write_text(html.render(data, top=top), encoding="utf-8")
    console.print(f"\nHTML report of {owner}: [bold]{html_path.resolve()}[/bold]")
    return time.perf_counter() - started
