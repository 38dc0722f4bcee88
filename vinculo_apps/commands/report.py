"""`vinculo report --owner ME [--scoring ADDR] [--html FILE]`: one person's network.

Fetches every page of the ranking, the network summary and the suggestions
from the scoring service at one instant, prints them with rich and, with
`--html`, writes a self-contained page with charts (vinculo_apps.report.html).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import grpc
from rich.console import Console

from vinculo import settings as settings_mod
from vinculo.security.channel import ClientSecurity
from vinculo.settings import SettingsError
from vinculo_apps import addresses
from vinculo_apps.arguments import instant, missing_directory, positive_int
from vinculo_apps.report import html, terminal
from vinculo_apps.report.data import fetch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    settings_mod.add_flags(parser, ClientSecurity)
    parser.add_argument("--owner", required=True, help="whose network")
    parser.add_argument(
        "--scoring",
        default=None,
        help=f"scoring address [{addresses.describe(addresses.SCORING)}]",
    )
    parser.add_argument("--html", type=Path, default=None, help="also write this HTML page")
    parser.add_argument(
        "--top", type=positive_int, default=15, help="rows in the top and bottom tables"
    )
    parser.add_argument(
        "--as-of",
        type=instant,
        default=None,
        help="instant to score at, RFC 3339 with a zone or unix seconds (default: now)",
    )


def run(args: argparse.Namespace) -> int:
    console = Console()
    address = addresses.resolve(addresses.SCORING, args.scoring)
    problem = missing_directory("--html", args.html)
    if problem:
        console.print(f"[red]error:[/] {problem}", soft_wrap=True)
        return 2
    started = time.monotonic()
    try:
        data = fetch(address, args.owner, args.as_of, settings_mod.load(ClientSecurity, args))
    except grpc.RpcError as exc:
        what = f"scoring at {address}: {exc.code().name} {exc.details()}"
        console.print(f"[red]error:[/] {what}", soft_wrap=True)
        return 2
    except SettingsError as exc:  # a TLS or token setting that cannot be used
        console.print(f"[red]error:[/] {exc}", soft_wrap=True)
        return 2
    terminal.render(data, console, top=args.top)
    if args.html is not None:
        args.html.write_text(html.render(data, top=args.top), encoding="utf-8")
        console.print(f"wrote {args.html}")
    console.print(f"[dim]report in {time.monotonic() - started:.2f} s[/]")
    return 0
