"""Events for the benchmarks: real SNAP interaction logs and a synthetic generator.

The SNAP files are `SRC DST UNIXTIME` lines (../shared/datasets/README.md).
Each line becomes one InteractionEvent from SRC's side (mirrored to DST by
the ingest service). Times are shifted so that each file's last event lands
a minute before now: validation rejects times before 1990 (the e-mail file
counts seconds from an anonymous start) and more than a day in the future.
"""

from __future__ import annotations

import gzip
import heapq
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vinculo.timestamps import set_seconds
from vinculo.v1 import events_pb2 as pb

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SNAP_DIR = SHARED_DATASETS / "snap"


@dataclass(frozen=True)
class SnapSource:
    file: str
    prefix: str  # keeps the two networks' people apart
    type: int
    channel: str


SOURCES = (
    SnapSource("sx-mathoverflow.txt.gz", "mo", pb.INTERACTION_TYPE_COMMENT, "mathoverflow"),
    SnapSource("email-Eu-core-temporal.txt.gz", "em", pb.INTERACTION_TYPE_MESSAGE, "email"),
)


def read_snap(path: Path, limit: int | None = None) -> list[tuple[int, int, int]]:
    """(src, dst, time) rows sorted by time, self-loops dropped, at most `limit`."""
    with gzip.open(path, "rt") as text:
        # C-speed parsing of whitespace-separated integers (newlines included).
        table = np.fromstring(text.read(), dtype=np.int64, sep=" ").reshape(-1, 3)
    table = table[table[:, 0] != table[:, 1]]
    table = table[np.argsort(table[:, 2], kind="stable")]
    if limit is not None:
        table = table[-limit:]
    return [(int(s), int(d), int(t)) for s, d, t in table.tolist()]


def snap_events(
    limit_per_file: int | None = None,
    now: float | None = None,
    snap_dir: Path = SNAP_DIR,
    run_tag: str = "",
) -> list[pb.InteractionEvent]:
    """Both SNAP files as events, merged in time order; `limit_per_file` keeps the newest rows."""
    end = (time.time() if now is None else now) - 60.0
    streams: list[list[pb.InteractionEvent]] = []
    for source in SOURCES:
        rows = read_snap(snap_dir / source.file, limit_per_file)
        if not rows:
            continue
        events = source_events(source, rows, end - rows[-1][2], f"{source.prefix}{run_tag}")
        streams.append(events)
    return list(heapq.merge(*streams, key=lambda event: event.occurred_at.ToNanoseconds()))


def source_events(
    source: SnapSource, rows: Sequence[tuple[int, int, int]], shift: float, id_prefix: str
) -> list[pb.InteractionEvent]:
    """One event per (src, dst, time) row from SRC's side, `shift` seconds later."""
    return [
        make_event(
            event_id=f"{id_prefix}-{i}",
            owner=f"{source.prefix}:{src}",
            contact=f"{source.prefix}:{dst}",
            at=t + shift,
            type=source.type,
            channel=source.channel,
        )
        for i, (src, dst, t) in enumerate(rows)
    ]


def make_event(
    event_id: str,
    owner: str,
    contact: str,
    at: float,
    type: int = pb.INTERACTION_TYPE_MESSAGE,
    direction: int = pb.DIRECTION_OUTBOUND,
    channel: str = "bench",
    owner_only: bool = False,
) -> pb.InteractionEvent:
    event = pb.InteractionEvent(
        event_id=event_id,
        owner_id=owner,
        contact_id=contact,
        type=type,  # type: ignore[arg-type]
        direction=direction,  # type: ignore[arg-type]
        channel=channel,
        owner_only=owner_only,
    )
    set_seconds(event.occurred_at, at)
    return event


_SYNTHETIC_TYPES = (
    pb.INTERACTION_TYPE_MESSAGE,
    pb.INTERACTION_TYPE_REPLY,
    pb.INTERACTION_TYPE_COMMENT,
    pb.INTERACTION_TYPE_REACTION,
    pb.INTERACTION_TYPE_CALL,
    pb.INTERACTION_TYPE_MEETING_IN_PERSON,
)
_DIRECTIONS = (pb.DIRECTION_OUTBOUND, pb.DIRECTION_INBOUND)


def synthetic_events(
    owner: str,
    contacts: range,
    seed: int,
    tag: str = "",
    now: float | None = None,
    span_days: float = 365.0,
) -> Iterator[pb.InteractionEvent]:
    """One owner-only event per contact in `contacts`: each creates (or touches)
    the relationship (owner, f"{owner}/c{i}"), at a random time in the last year."""
    rng = random.Random(seed)
    end = (time.time() if now is None else now) - 60.0
    for i in contacts:
        yield make_event(
            event_id=f"syn{tag}-{owner}-{i}",
            owner=owner,
            contact=f"{owner}/c{i}",
            at=end - rng.random() * span_days * 86_400.0,
            type=rng.choice(_SYNTHETIC_TYPES),
            direction=rng.choice(_DIRECTIONS),
            owner_only=True,
        )


def contact_of(owner: str, index: int) -> str:
    """The contact id synthetic_events gives the index-th contact of owner."""
    return f"{owner}/c{index}"
