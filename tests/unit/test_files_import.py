"""JSON-lines and CSV event files: round trip, tolerant reading, streaming."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from vinculo.records import COLUMNS, RecordError, event_from_record, event_to_record
from vinculo.v1 import events_pb2 as pb
from vinculo_apps.importers.common import SkipLog
from vinculo_apps.importers.files import read_events, write_csv, write_jsonl


def sample(i: int) -> pb.InteractionEvent:
    event = pb.InteractionEvent(
        event_id=f"e{i}",
        owner_id="ana",
        contact_id=f"c{i % 7}",
        type=pb.INTERACTION_TYPE_REPLY if i % 2 else pb.INTERACTION_TYPE_MESSAGE,
        direction=pb.DIRECTION_INBOUND,
        channel="email",
        personalized=i % 3 == 0,
        in_reply_to=f"e{i - 1}" if i % 2 else "",
        audience_size=1,
        owner_only=True,
    )
    event.occurred_at.FromMilliseconds(1_700_000_000_000 + i * 1500)
    return event


def test_record_uses_proto_names_and_short_enums() -> None:
    record = event_to_record(sample(1))
    assert record["type"] == "reply" and record["direction"] == "inbound"
    assert record["occurred_at"] == "2023-11-14T22:13:21.500Z"
    assert set(record) <= set(COLUMNS)
    assert event_from_record(record) == sample(1)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"type": "telepathy"}, "unknown_type"),
        ({"occurred_at": "2024-01-01 10:00"}, "bad_occurred_at"),
        ({"occurred_at": "last week"}, "bad_occurred_at"),
        ({"contact_id": ""}, "missing_contact_id"),
        ({"personalized": "maybe"}, "bad_personalized"),
        ({"audience_size": -1}, "bad_audience_size"),
    ],
)
def test_bad_records_name_the_field(change: dict[str, object], code: str) -> None:
    record = {**event_to_record(sample(2)), **change}
    with pytest.raises(RecordError) as info:
        event_from_record(record)
    assert info.value.code == code


def test_enums_by_full_name_or_number_and_times_as_numbers() -> None:
    record = {
        "owner_id": "a",
        "contact_id": "b",
        "type": "INTERACTION_TYPE_CALL",
        "direction": 3,
        "occurred_at": 1_700_000_000,
        "duration_seconds": "60",
    }
    event = event_from_record(record)
    assert (event.type, event.direction, event.duration_seconds) == (13, 3, 60)
    assert event.occurred_at.seconds == 1_700_000_000


@pytest.mark.parametrize("name", ["events.jsonl", "events.csv", "events.jsonl.gz", "events.csv.gz"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    writer = write_csv if ".csv" in name else write_jsonl
    assert writer((sample(i) for i in range(50)), path) == 50
    skips = SkipLog()
    assert list(read_events(path, None, skips)) == [sample(i) for i in range(50)]
    assert skips.total == 0


def test_bad_lines_are_skipped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    good = json.dumps(event_to_record(sample(1)))
    path.write_text(f"{good}\nnot json\n[1, 2]\n\n{json.dumps({'owner_id': 'a'})}\n{good}\n")
    skips = SkipLog()
    assert len(list(read_events(path, "jsonl", skips))) == 2
    assert skips.total == 3
    assert skips.examples[0].startswith("mixed.jsonl:2: not JSON")
    assert "contact_id: required" in skips.examples[2]


def test_csv_with_missing_required_column_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("owner_id,contact_id\na,b\n")
    skips = SkipLog()
    assert list(read_events(path, "csv", skips)) == []
    assert "type, occurred_at" in skips.examples[0]


def test_reading_streams_in_constant_memory(tmp_path: Path) -> None:
    """Reading 10k events holds one at a time: peak memory does not grow with the file
    (held in a list, 10k events take ~1.2 MB, over three times the bound)."""

    def many(n: int) -> Iterator[pb.InteractionEvent]:
        return (sample(i) for i in range(n))

    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    write_jsonl(many(1_000), small)
    write_jsonl(many(10_000), large)

    def peak(path: Path) -> int:
        tracemalloc.start()
        count = sum(1 for _ in read_events(path, None, SkipLog()))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert count > 0
        return top

    assert peak(large) < 2 * peak(small) + 256 * 1024
