"""Event files into `PairEvent` streams: SNAP temporal, Copenhagen CSVs, the project's own.

Every loader yields events seen from the first person (`owner`, SRC or sender)
and whether the event is recorded for that person only. `dataset.build_states`
mirrors the others to the contact's side, as the ingest service does (decision 1,
docs/decisions/): SRC's outbound message is DST's inbound one.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, NamedTuple

from scoring_service.model.errors import ModelInputError
from vinculo.domain import Interaction, has_mirror
from vinculo.v1 import events_pb2 as pb
from vinculo.validation import MIN_TIME_SECONDS, event_time, to_interaction
from vinculo_apps.importers import files
from vinculo_apps.importers.common import SkipLog

FORMATS = ("auto", "snap", "snap-signed", "copenhagen", "jsonl", "csv", "sociopatterns")
# What each --format reads, for error messages that name the accepted layouts.
LAYOUTS = (
    "snap: 'SRC DST UNIXTIME' lines",
    "snap-signed: 'SRC,DST,RATING,TIME' lines",
    "copenhagen: calls.csv or sms.csv of the Copenhagen Networks Study",
    "jsonl/csv: the project's own event records",
    "sociopatterns: 't i j [Ci Cj]' face-to-face contact windows",
)


class PairEvent(NamedTuple):
    owner: str
    contact: str
    event: Interaction
    owner_only: bool = False


def open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return path.open(encoding="utf-8")


def detect_format(path: Path) -> str:
    """'jsonl' when the first line is a JSON object, 'copenhagen' for its headers,
    'sociopatterns' for five fields, 'snap-signed' for four comma-separated numbers,
    else 'snap'."""
    with open_text(path) as handle:
        first = handle.readline().strip()
    if first.startswith("{"):
        return "jsonl"
    if first.startswith("timestamp,"):
        return "copenhagen"
    if "owner_id" in first and "," in first:
        return "csv"
    if len(first.split()) == 5:
        return "sociopatterns"  # t i j Ci Cj: the classes are not numbers
    from vinculo_apps.training.snap_signed import looks_signed

    if looks_signed(first):
        return "snap-signed"
    return "snap"


def read_events(path: Path, fmt: str = "auto") -> Iterator[PairEvent]:
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "snap":
        return read_snap(path)
    if fmt == "copenhagen":
        return read_copenhagen(path)
    if fmt in ("jsonl", "csv"):
        return read_project_events(path, fmt)
    if fmt == "sociopatterns":
        from vinculo_apps.training.sociopatterns import read_sociopatterns

        return read_sociopatterns(path)
    if fmt == "snap-signed":
        from vinculo_apps.training.snap_signed import read_snap_signed

        return read_snap_signed(path)
    raise ModelInputError(
        f"unknown event format {fmt!r}; expected one of {', '.join(FORMATS)} ({'; '.join(LAYOUTS)})"
    )


def snap_type(path: Path) -> int:
    """Stack Exchange files (sx-*) hold answers and comments on someone's post: public
    comments. Every other SNAP temporal file here is private messages or e-mail."""
    if path.name.startswith("sx-"):
        return pb.INTERACTION_TYPE_COMMENT
    return pb.INTERACTION_TYPE_MESSAGE


def read_snap(path: Path, limit: int | None = None) -> Iterator[PairEvent]:
    """`SRC DST UNIXTIME` lines; a private message counts as personalised outreach."""
    kind = snap_type(path)
    personal = kind == pb.INTERACTION_TYPE_MESSAGE
    with open_text(path) as handle:
        for number, line in enumerate(handle):
            if limit is not None and number >= limit:
                return
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            if len(parts) < 3:
                raise ModelInputError(
                    f"{path}:{number + 1}: {line.strip()[:60]!r} is not SNAP 'SRC DST UNIXTIME' "
                    f"(whitespace separated); --format reads {'; '.join(LAYOUTS)}"
                )
            src, dst, when = (
                parts[0],
                parts[1],
                parse_number(parts[2], path, number + 1, "UNIXTIME"),
            )
            _check_snap_time(path, number + 1, parts)
            if src == dst:
                continue  # a self-loop is no relationship
            event = Interaction(kind, pb.DIRECTION_OUTBOUND, when, personalized=personal)
            yield PairEvent(src, dst, event)


def _check_snap_time(path: Path, line: int, parts: list[str]) -> None:
    """Refuse a file whose UNIXTIME column holds node ids: SRC reads as a unix time after
    1990 while UNIXTIME reads as one before (SocioPatterns `t i j` read as SNAP)."""
    src, when = parts[0], parts[2]
    looks_like_time = src.replace(".", "", 1).isdigit() and float(src) >= MIN_TIME_SECONDS
    if looks_like_time and float(when) < MIN_TIME_SECONDS:
        raise ModelInputError(
            f"{path}:{line}: read as SNAP 'SRC DST UNIXTIME', but SRC {src} is a unix time and "
            f"UNIXTIME {when} is before 1990 (a node id?); for SocioPatterns 't i j [Ci Cj]' "
            "contact windows use --format sociopatterns"
        )


def read_copenhagen(path: Path) -> Iterator[PairEvent]:
    """calls.csv (`timestamp,caller,callee,duration`) or sms.csv (`timestamp,sender,recipient`).

    A missed call (duration -1) reached no one: it is kept as a one-way
    message-class attempt by the caller, not as a call, so that it can never
    count as the two-way conversation an answered call is.
    """
    with open_text(path) as handle:
        reader = csv.DictReader(handle)
        is_calls = _copenhagen_kind(path, reader.fieldnames or [])
        for row in reader:
            when = parse_number(row["timestamp"], path, reader.line_num, "timestamp")
            if is_calls:
                src, dst = row["caller"], row["callee"]
                duration = parse_number(row["duration"], path, reader.line_num, "duration")
                if duration < 0:
                    event = Interaction(pb.INTERACTION_TYPE_MESSAGE, pb.DIRECTION_OUTBOUND, when)
                else:
                    event = Interaction(
                        pb.INTERACTION_TYPE_CALL,
                        pb.DIRECTION_OUTBOUND,
                        when,
                        duration_seconds=duration,
                    )
            else:
                src, dst = row["sender"], row["recipient"]
                event = Interaction(
                    pb.INTERACTION_TYPE_MESSAGE, pb.DIRECTION_OUTBOUND, when, personalized=True
                )
            if src != dst:
                yield PairEvent(src, dst, event)


_CALLS = ("timestamp", "caller", "callee", "duration")
_SMS = ("timestamp", "sender", "recipient")


def _copenhagen_kind(path: Path, fields: Sequence[str]) -> bool:
    """True for calls.csv, False for sms.csv; any other header is named in the error."""
    for columns, is_calls in ((_CALLS, True), (_SMS, False)):
        if all(c in fields for c in columns):
            return is_calls
    raise ModelInputError(
        f"{path}: header {','.join(fields)!r} is neither calls ({','.join(_CALLS)}) "
        f"nor sms ({','.join(_SMS)})"
    )


def parse_number(text: str | None, path: Path, line: int, field: str) -> float:
    try:
        return float(text or "")
    except ValueError:
        raise ModelInputError(f"{path}:{line}: {field} {text!r} is not a number") from None


def read_project_events(path: Path, fmt: str) -> Iterator[PairEvent]:
    """The project's own event files (JSON lines or CSV), through the importers' reader.

    One parser serves `vinculo import events` and training, so both accept and
    reject the same records. A repeated `event_id` of the same owner is ignored,
    as the scoring service does; `in_reply_to` is resolved to the answered
    event's time when that event came earlier. Unreadable records are skipped
    and counted on stderr, as the importer reports them.
    """
    skips = SkipLog()
    seen: dict[tuple[str, str], float] = {}
    for record in files.read_events(path, fmt, skips):
        key = (record.owner_id, record.event_id)
        if key in seen:
            continue
        when = event_time(record)
        seen[key] = when
        reply_to = seen.get((record.owner_id, record.in_reply_to)) if record.in_reply_to else None
        only = not has_mirror(record)
        yield PairEvent(record.owner_id, record.contact_id, to_interaction(record, reply_to), only)
    if skips.total:
        reasons = ", ".join(f"{n} {reason}" for reason, n in skips.counts.most_common(5))
        print(f"{path}: skipped {skips.total} records ({reasons})", file=sys.stderr)
