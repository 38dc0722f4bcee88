"""The ingest outbox: durable appends, segments, torn tails, retention, the old file."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from ingest_service.outbox import FILE_NAME, Outbox, OutboxLocked, _frame, segment_path
from ingest_service.publisher import Record


def recs(first: int, count: int) -> list[Record]:
    return [
        Record(f"owner-{i % 7}", f"value-{i:06d}".encode() * 5) for i in range(first, first + count)
    ]


def values(outbox: Outbox, start: int, end: int) -> list[bytes]:
    return [r.value for r in outbox.records_between(start, end)]


def test_records_come_back_in_order_across_segments_and_a_reopen(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, segment_bytes=2_000)
    for first in range(0, 300, 30):
        outbox.append(recs(first, 30))
    assert len(outbox) == 300
    segments = sorted(tmp_path.glob("ingest-outbox.*.seg"))
    assert len(segments) > 5  # rotated
    assert all(p.stat().st_size < 2_000 + 30 * 80 for p in segments)
    assert [r.value for r in outbox.records(300)] == [r.value for r in recs(0, 300)]
    assert values(outbox, 95, 205) == [r.value for r in recs(95, 110)]
    outbox.close()
    again = Outbox(tmp_path, segment_bytes=2_000)
    assert len(again) == 300
    again.append(recs(300, 5))
    assert values(again, 290, 305) == [r.value for r in recs(290, 15)]
    again.close()


def test_a_torn_tail_is_cut_and_never_replayed(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    outbox.append(recs(0, 10))
    outbox.close()
    newest = sorted(tmp_path.glob("ingest-outbox.*.seg"))[-1]
    with newest.open("ab") as torn:
        torn.write(_frame(recs(10, 1)[0])[:-3])  # a crash mid-write
    again = Outbox(tmp_path)
    assert len(again) == 10
    again.append(recs(10, 2))
    assert values(again, 0, 12) == [r.value for r in recs(0, 12)]
    again.close()


def test_the_single_file_of_earlier_versions_becomes_the_first_segment(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_bytes(b"".join(_frame(r) for r in recs(0, 4)))
    outbox = Outbox(tmp_path)
    assert not (tmp_path / FILE_NAME).exists() and segment_path(tmp_path, 0).exists()
    outbox.append(recs(4, 1))
    assert values(outbox, 0, 5) == [r.value for r in recs(0, 5)]
    outbox.close()


def test_retention_drops_old_sealed_segments_and_indices_do_not_shift(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, segment_bytes=1_000, retention_s=3600)
    outbox.append(recs(0, 20))  # sealed at once (over 1,000 bytes)
    old = sorted(tmp_path.glob("ingest-outbox.*.seg"))[0]
    long_ago = time.time() - 7200
    os.utime(old, (long_ago, long_ago))
    outbox.append(recs(20, 20))  # the next rotation drops the old segment
    assert not old.exists()
    assert outbox.first_index == 20 and len(outbox) == 40
    assert values(outbox, 0, 40) == [r.value for r in recs(20, 20)]
    outbox.close()


def test_without_retention_nothing_is_dropped(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, segment_bytes=1_000)
    for first in range(0, 100, 20):
        outbox.append(recs(first, 20))
    for path in tmp_path.glob("ingest-outbox.*.seg"):
        os.utime(path, (0, 0))
    outbox.append(recs(100, 20))
    assert outbox.first_index == 0
    assert len(list(outbox.records(120))) == 120
    outbox.close()


def test_concurrent_appends_across_rotations_lose_nothing(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, segment_bytes=3_000)

    def writer(n: int) -> None:
        for k in range(20):
            outbox.append([Record(f"w{n}", f"{n}-{k}".encode())])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outbox) == 80
    got = sorted(r.value for r in outbox.records(80))
    assert got == sorted(f"{n}-{k}".encode() for n in range(4) for k in range(20))
    outbox.close()
    again = Outbox(tmp_path, segment_bytes=3_000)
    assert len(again) == 80
    again.close()


def test_a_second_process_is_refused_while_the_first_holds_it(tmp_path: Path) -> None:
    first = Outbox(tmp_path)
    with pytest.raises(OutboxLocked, match="in use by another ingest process"):
        Outbox(tmp_path)
    first.close()
    Outbox(tmp_path).close()  # released on close (and by the kernel on a crash)


def test_tail_reads_the_newest_records_across_segments(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, segment_bytes=1_000)
    for first in range(0, 100, 10):
        outbox.append(recs(first, 10))
    assert len(list(tmp_path.glob("ingest-outbox.*.seg"))) > 3
    assert [r.value for r in outbox.tail(25)] == [r.value for r in recs(75, 25)]
    assert [r.value for r in outbox.tail(500)] == [r.value for r in recs(0, 100)]
    assert outbox.tail(0) == []
    outbox.close()
