"""The ingest outbox forgets: compaction keeps every other record, in order, durable."""

from __future__ import annotations

from pathlib import Path

from ingest_service.outbox import Outbox
from ingest_service.outbox_eraser import erased_by
from ingest_service.publisher import Record
from tests.integration.scoring_helpers import T0, interaction
from vinculo.erasure import Tombstone, TombstoneSet


def _record(event_id: str, owner: str, contact: str) -> Record:
    return Record(owner, interaction(event_id, owner, contact, T0).SerializeToString())


def test_compaction_drops_only_what_a_tombstone_matches_and_survives_reopening(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path)
    kept = [_record("a1", "ana", "bob"), _record("b1", "bob", "ana")]
    gone = [_record("a2", "ana", "xerxes"), _record("x1", "xerxes", "bob")]
    outbox.append([kept[0], gone[0], gone[1], kept[1]])
    tombstones = TombstoneSet([Tombstone.for_owner("xerxes", T0 + 10)])
    removed, checked = outbox.compact(lambda r: erased_by(tombstones, r))
    assert removed == 2 and checked == len(outbox)
    assert not [p for p in tmp_path.glob("ingest-outbox.*") if b"xerxes" in p.read_bytes()]
    # Nothing new to check: no rewrite. An old event appended again is found in the tail.
    assert outbox.compact(lambda r: erased_by(tombstones, r), checked) == (0, checked)
    outbox.append([gone[0], Record("ana", b"not protobuf")])
    assert outbox.compact(lambda r: erased_by(tombstones, r), checked)[0] == 1
    assert len(list(outbox.records(len(outbox)))) == 3  # indices are not reused
    outbox.append([_record("a3", "ana", "cy")])  # appends go to the new file
    outbox.close()
    reopened = Outbox(tmp_path)
    events = [r.key for r in reopened.records(10)]
    assert events == ["ana", "bob", "ana", "ana"]
    reopened.close()
