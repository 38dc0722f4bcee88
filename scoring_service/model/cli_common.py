"""Arguments and loading shared by `vinculo train` and `vinculo evaluate`."""

from __future__ import annotations

import argparse
from pathlib import Path

from scoring_service.model.dataset import EventLog
from scoring_service.model.loaders import FORMATS, parse_time


def add_event_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events",
        type=Path,
        nargs="+",
        required=True,
        metavar="FILE",
        help="event files, read as one log",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help="snap (SRC DST UNIXTIME), copenhagen (calls.csv/sms.csv), jsonl; auto: per file",
    )
    parser.add_argument(
        "--labels",
        type=Path,
        metavar="FILE",
        help="CSV owner_id,contact_id,label, or a friend list like fb_friends.csv: labels task",
    )
    parser.add_argument(
        "--as-of",
        dest="as_of",
        metavar="TIME",
        help="labels task: features from events before TIME (ISO-8601 or unix seconds); "
        "default: after the last event",
    )


def load_log(args: argparse.Namespace) -> EventLog:
    log = EventLog.read(list(args.events), args.format)
    if not log.events:
        raise SystemExit("no events read from " + ", ".join(map(str, args.events)))
    return log


def as_of(args: argparse.Namespace, log: EventLog) -> float:
    return parse_time(args.as_of) if args.as_of else log.span[1] + 1.0
