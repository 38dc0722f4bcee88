"""`vinculo report --owner ME [--scoring ADDR] [--html FILE]`: one person's network.

Fetches every page of the ranking, the network summary and the suggestions
from the scoring service at one instant, prints them with rich and, with
`--html`, writes a self-contained page with charts (vinculo.report.html).
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime
from pathlib import Path

import grpc
from rich.console import Console

from vinculo.report import html, terminal
from vinculo.report.data import fetch

DEFAULT_SCORING = "127.0.0.1:50052"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--owner", required=True, help="whose network")
    parser.add_argument(
        "--scoring",
        default=None,
        help=f"scoring address [env VINCULO_SCORING_ADDRESS, default {DEFAULT_SCORING}]",
    )
    parser.add_argument("--html", type=Path, default=None, help="also write this HTML page")
    parser.add_argument("--top", type=int, default=15, help="rows in the top and bottom tables")
    parser.add_argument("--as-of", default=None, help="RFC 3339 instant to score at (default: now)")


def _as_of(text: str | None) -> float | None:
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def run(args: argparse.Namespace) -> int:
    console = Console()
    address = args.scoring or os.environ.get("VINCULO_SCORING_ADDRESS", DEFAULT_SCORING)
    started = time.monotonic()
    try:
        data = fetch(address, args.owner, _as_of(args.as_of))
    except grpc.RpcError as exc:
        console.print(f"[red]error:[/] scoring at {address}: {exc.code().name} {exc.details()}")
        return 2
    terminal.render(data, console, top=args.top)
    if args.html is not None:
        args.html.write_text(html.render(data, top=args.top), encoding="utf-8")
        console.print(f"wrote {args.html}")
    console.print(f"[dim]report in {time.monotonic() - started:.2f} s[/]")
    return 0
