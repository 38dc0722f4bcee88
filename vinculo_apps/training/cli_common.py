"""Arguments and loading shared by `vinculo train` and `vinculo evaluate`."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scoring_service.model.errors import ModelInputError
from vinculo_apps.arguments import instant, missing_directory, positive_int
from vinculo_apps.training.dataset import EventLog
from vinculo_apps.training.loaders import FORMATS


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
        help="snap (SRC DST UNIXTIME), snap-signed (SRC,DST,RATING,TIME), copenhagen "
        "(calls.csv/sms.csv), jsonl, csv, "
        "sociopatterns (t i j [Ci Cj]); auto: per file",
    )
    parser.add_argument(
        "--labels",
        type=Path,
        metavar="FILE",
        help="CSV owner_id,contact_id,label, or a friend list like fb_friends.csv: labels task",
    )
    parser.add_argument(
        "--directed",
        action="store_true",
        help="labels task: a label is for owner_id -> contact_id only (default: for the pair; "
        "conflicting directions are reported)",
    )
    parser.add_argument(
        "--as-of",
        dest="as_of",
        type=instant,
        metavar="TIME",
        help="labels task: features from events before TIME (RFC 3339 with a zone, or unix "
        "seconds); "
        "default: after the last event",
    )


def fold_count(text: str) -> int:
    folds = positive_int(text)
    if folds < 2:
        raise argparse.ArgumentTypeError(f"{folds}: cross-validation needs at least 2 folds")
    return folds


def load_log(args: argparse.Namespace) -> EventLog:
    log = EventLog.read(list(args.events), args.format)
    if not log.events:
        raise SystemExit("no events read from " + ", ".join(map(str, args.events)))
    return log


def as_of(args: argparse.Namespace, log: EventLog) -> float:
    return float(args.as_of) if args.as_of is not None else log.span[1] + 1.0


def require_directory(option: str, path: Path | None) -> None:
    """Refuse an output path whose directory is missing before any work, not after it."""
    problem = missing_directory(option, path)
    if problem:
        raise ModelInputError(problem)


@contextmanager
def input_errors(command: str) -> Iterator[None]:
    """End the command with one line naming the bad file or option, not a traceback.

    Only errors about the user's input are turned into messages: a missing or
    unreadable file, and `ModelInputError` (bad records, labels, model files,
    options, or too little data). Anything else is a bug and keeps its traceback.
    """
    try:
        yield
    except OSError as exc:
        what = f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)
        raise SystemExit(f"vinculo {command}: {what}") from None
    except ModelInputError as exc:
        raise SystemExit(f"vinculo {command}: {exc}") from None
