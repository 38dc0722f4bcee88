"""Event files into `PairEvent` streams: SNAP temporal, Copenhagen CSVs, project JSON lines.

Every loader yields events seen from the first person (`owner`, SRC or sender)
and whether the event is recorded for that person only. `dataset.build_states`
mirrors the others to the contact's side, as the ingest service does (DESIGN.md
decision 1): SRC's outbound message is DST's inbound one.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NamedTuple

from vinculo.domain import Interaction
from vinculo.v1 import events_pb2 as pb

FORMATS = ("auto", "snap", "copenhagen", "jsonl")


class PairEvent(NamedTuple):
    owner: str
    contact: str
    event: Interaction
    owner_only: bool = False


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return path.open(encoding="utf-8")


def detect_format(path: Path) -> str:
    """'jsonl' when the first line is a JSON object, 'copenhagen' for its headers, else 'snap'."""
    with _open_text(path) as handle:
        first = handle.readline().strip()
    if first.startswith("{"):
        return "jsonl"
    if first.startswith("timestamp,"):
        return "copenhagen"
    return "snap"


def read_events(path: Path, fmt: str = "auto") -> Iterator[PairEvent]:
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "snap":
        return read_snap(path)
    if fmt == "copenhagen":
        return read_copenhagen(path)
    if fmt == "jsonl":
        return read_jsonl(path)
    raise ValueError(f"unknown event format {fmt!r}; expected one of {', '.join(FORMATS)}")


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
    with _open_text(path) as handle:
        for number, line in enumerate(handle):
            if limit is not None and number >= limit:
                return
            parts = line.split()
            if len(parts) < 3 or parts[0].startswith("#"):
                continue
            src, dst, when = parts[0], parts[1], float(parts[2])
            if src == dst:
                continue  # a self-loop is no relationship
            event = Interaction(kind, pb.DIRECTION_OUTBOUND, when, personalized=personal)
            yield PairEvent(src, dst, event)


def read_copenhagen(path: Path) -> Iterator[PairEvent]:
    """calls.csv (`timestamp,caller,callee,duration`) or sms.csv (`timestamp,sender,recipient`).

    A missed call (duration -1) reached no one: it is kept as a one-way
    message-class attempt by the caller, not as a call, so that it can never
    count as the two-way conversation an answered call is.
    """
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        is_calls = "duration" in fields
        for row in reader:
            when = float(row["timestamp"])
            if is_calls:
                src, dst, duration = row["caller"], row["callee"], float(row["duration"])
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


def parse_time(value: Any) -> float:
    """Unix seconds from a number or an ISO-8601 string ('Z' accepted)."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"time {text!r} has no time zone; add 'Z' or an offset")
    return parsed.timestamp()


def _enum(value: Any, enum: Any, prefix: str) -> int:
    """An enum from its number, short name ('message') or full name ('INTERACTION_TYPE_MESSAGE')."""
    if isinstance(value, int):
        return value
    name = str(value).strip().upper()
    if not name.startswith(prefix):
        name = prefix + name
    return int(enum.Value(name))


def read_jsonl(path: Path) -> Iterator[PairEvent]:
    """One `InteractionEvent` per line, proto field names (docs/model.md, 'Event files').

    A repeated `event_id` of the same owner is ignored, as the scoring service does;
    `in_reply_to` is resolved to the answered event's time when that event came earlier.
    """
    seen: dict[tuple[str, str], float] = {}
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                pair_event = _jsonl_event(record, seen)
            except (ValueError, KeyError) as exc:
                raise ValueError(f"{path}:{number}: {exc}") from exc
            if pair_event is not None:
                yield pair_event


def _jsonl_event(record: dict[str, Any], seen: dict[tuple[str, str], float]) -> PairEvent | None:
    owner, contact = str(record["owner_id"]), str(record["contact_id"])
    when = parse_time(record["occurred_at"])
    event_id = str(record.get("event_id", ""))
    if event_id:
        if (owner, event_id) in seen:
            return None
        seen[(owner, event_id)] = when
    kind = _enum(record["type"], pb.InteractionType, "INTERACTION_TYPE_")
    direction = _enum(record.get("direction", 0), pb.Direction, "DIRECTION_")
    reply_to = record.get("in_reply_to")
    event = Interaction(
        type=kind,
        direction=direction,
        time=when,
        personalized=bool(record.get("personalized", False)),
        duration_seconds=float(record.get("duration_seconds", 0)),
        audience_size=int(record.get("audience_size", 0)),
        feedback_label=_enum(record.get("feedback_label", 0), pb.FeedbackLabel, "FEEDBACK_LABEL_"),
        reply_to_time=seen.get((owner, str(reply_to))) if reply_to else None,
    )
    only = bool(record.get("owner_only", False)) or kind == pb.INTERACTION_TYPE_FEEDBACK
    return PairEvent(owner, contact, event, only)
