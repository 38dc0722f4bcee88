"""`vinculo import linkedin EXPORT.zip --owner ME` and `vinculo import events FILE`.

Both read their source as a stream of events and publish it through the gRPC
ingest API (vinculo_apps.importers.publish), with a progress bar and, at the end,
the counts: accepted, duplicate, rejected by reason, and the rows the parser
skipped with their reasons. Exit status 0 when every event was accepted or a
duplicate, 1 when any was rejected or a row could not be read, 2 when the source
is unusable or nothing answers at the ingest address (found out within
`CONNECT_TIMEOUT_S`). Rows left out by design (SPAM, rejected endorsements)
are counted, not an error.
"""

from __future__ import annotations

import argparse
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path

import grpc
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vinculo import settings as settings_mod
from vinculo.security.channel import PLAINTEXT, ClientSecurity
from vinculo.settings import SettingsError
from vinculo.v1 import events_pb2
from vinculo_apps import addresses
from vinculo_apps.importers.common import SkipLog
from vinculo_apps.importers.files import FORMATS, read_events
from vinculo_apps.importers.linkedin import LinkedInExport
from vinculo_apps.importers.publish import IngestClient, IngestUnreachable, PublishSummary


def default_ingest_address() -> str:
    return addresses.resolve(addresses.INGEST)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    linkedin = sources.add_parser("linkedin", help="a LinkedIn data export (ZIP of CSV files)")
    linkedin.add_argument("export", type=Path, help="the ZIP LinkedIn sent you")
    linkedin.add_argument("--owner", required=True, help="your id in Vinculo")
    events = sources.add_parser("events", help="a JSON-lines or CSV file of events")
    events.add_argument("file", type=Path, help=".jsonl/.csv, optionally .gz")
    events.add_argument("--format", choices=FORMATS, help="default: from the file name")
    for sub in (linkedin, events):
        settings_mod.add_flags(sub, ClientSecurity)
        sub.add_argument(
            "--ingest",
            default=None,
            help=f"ingest address [{addresses.describe(addresses.INGEST)}]",
        )


def _source(
    args: argparse.Namespace, skips: SkipLog
) -> tuple[Iterable[events_pb2.InteractionEvent], str]:
    if args.source == "linkedin":
        export = LinkedInExport(args.export, args.owner, skips=skips)
        return export.events(), f"LinkedIn export {args.export.name}"
    return read_events(args.file, args.format, skips), f"events from {args.file.name}"


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=False)
    path: Path = args.export if args.source == "linkedin" else args.file
    if not path.is_file():
        console.print(f"[red]error:[/] {path}: no such file")
        return 2
    address = args.ingest or default_ingest_address()
    try:
        security = settings_mod.load(ClientSecurity, args)
    except SettingsError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    skips = SkipLog()
    events, label = _source(args, skips)
    started = time.monotonic()
    try:
        summary = publish_with_progress(events, address, label, console, security)
    except zipfile.BadZipFile as exc:
        console.print(f"[red]error:[/] {path}: not a ZIP file ({exc})")
        return 2
    except grpc.RpcError as exc:
        console.print(f"[red]error:[/] ingest at {address}: {exc.code().name} {exc.details()}")
        return 2
    except IngestUnreachable as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    except SettingsError as exc:  # a TLS file that cannot be used
        console.print(f"[red]error:[/] {exc}")
        return 2
    print_summary(console, summary, skips, time.monotonic() - started)
    return 0 if not summary.rejected and not skips.total else 1


def publish_with_progress(
    events: Iterable[events_pb2.InteractionEvent],
    address: str,
    label: str,
    console: Console,
    security: ClientSecurity = PLAINTEXT,
) -> PublishSummary:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"importing {label}", total=None)
        # A stream has no known length: the bar pulses and counts until the end.
        with IngestClient(address, security=security) as client:
            summary = client.publish(events, lambda n: progress.advance(task, n))
        progress.update(task, total=summary.total, completed=summary.total)
    return summary


def print_summary(
    console: Console, summary: PublishSummary, skips: SkipLog, seconds: float
) -> None:
    rate = summary.total / seconds if seconds > 0 else 0.0
    console.print(
        f"[bold]{summary.total}[/] events in {seconds:.1f} s ({rate:,.0f}/s): "
        f"[green]{summary.accepted} accepted[/], {summary.duplicates} duplicate, "
        f"[red]{sum(summary.rejected.values())} rejected[/]; {skips.total} rows skipped"
        + (f"; {sum(skips.ignored.values())} left out by design" if skips.ignored else "")
    )
    for reason, count in skips.ignored.most_common():
        console.print(f"  left out by design: {reason}: {count}")
    if summary.rejected:
        table = Table("rejected: reason", "events", "example", title="Rejected by the ingest API")
        for code, count in summary.rejected.most_common():
            table.add_row(code, str(count), summary.examples.get(code, ""))
        console.print(table)
    if skips.total:
        table = Table("skipped: reason", "rows", title="Rows the importer could not read")
        for reason, count in skips.counts.most_common():
            table.add_row(reason, str(count))
        console.print(table)
        for example in skips.examples:
            console.print(f"  [dim]{example}[/]")
