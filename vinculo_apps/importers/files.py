"""The project's event file formats: JSON lines and CSV, streamed in constant memory.

A record's fields and their mapping to an event are `vinculo.records`'s
(docs/importing.md). Readers are generators over the open file: a file of
millions of events is read one line at a time, and a bad line is noted in the
`SkipLog` and skipped.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, cast

from vinculo.records import COLUMNS, REQUIRED, RecordError, event_from_record, event_to_record
from vinculo.v1 import events_pb2 as pb
from vinculo_apps.importers.common import SkipLog

FORMATS = ("jsonl", "csv")


def open_text(path: Path, mode: str = "r") -> IO[str]:
    """A text handle; `.gz` files are (de)compressed on the fly."""
    if path.suffix == ".gz":
        binary = cast(IO[bytes], gzip.open(path, mode + "b"))  # noqa: SIM115 - caller closes
        return io.TextIOWrapper(binary, encoding="utf-8", newline="")
    return path.open(mode, encoding="utf-8-sig" if mode == "r" else "utf-8", newline="")


def detect_format(path: Path) -> str:
    name = path.name.removesuffix(".gz")
    return "csv" if name.endswith(".csv") else "jsonl"


def read_jsonl(path: Path, skips: SkipLog) -> Iterator[pb.InteractionEvent]:
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                skips.skip(where, f"not JSON ({exc.msg})")
                continue
            if not isinstance(record, dict):
                skips.skip(where, "not a JSON object")
                continue
            try:
                yield event_from_record(record)
            except RecordError as exc:
                skips.skip(where, exc.message)


def read_csv(path: Path, skips: SkipLog) -> Iterator[pb.InteractionEvent]:
    with open_text(path) as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            skips.skip(f"{path.name}:1", f"header lacks required columns {', '.join(missing)}")
            return
        for row in reader:
            where = f"{path.name}:{reader.line_num}"
            if None in row:  # more cells than header columns
                skips.skip(where, "more cells than columns")
                continue
            try:
                yield event_from_record(row)
            except RecordError as exc:
                skips.skip(where, exc.message)


def read_events(path: Path, fmt: str | None, skips: SkipLog) -> Iterator[pb.InteractionEvent]:
    """Events of a JSON-lines or CSV file, one at a time; `fmt` None guesses from the name."""
    fmt = fmt or detect_format(path)
    if fmt == "jsonl":
        return read_jsonl(path, skips)
    if fmt == "csv":
        return read_csv(path, skips)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def write_jsonl(events: Iterable[pb.InteractionEvent], path: Path) -> int:
    count = 0
    with open_text(path, "w") as handle:
        for event in events:
            handle.write(json.dumps(event_to_record(event), ensure_ascii=False) + "\n")
            count += 1
    return count


def write_csv(events: Iterable[pb.InteractionEvent], path: Path) -> int:
    count = 0
    with open_text(path, "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for event in events:
            writer.writerow(event_to_record(event))
            count += 1
    return count
