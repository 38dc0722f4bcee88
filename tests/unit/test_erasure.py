"""Tombstones: what they match and when, their records, and erasure in a real store."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from scoring_service.erasure.eraser import Eraser
from scoring_service.features.state import new_state
from scoring_service.routing.changelog import SEP, RestoredPartition, read_record
from scoring_service.store import Batch, StateStore
from scoring_service.watch import End, WatchHub
from vinculo.erasure import Tombstone, TombstoneSet, digest
from vinculo.validation import MAX_FUTURE_SECONDS

NOW = 1_800_000_000.0


def test_forgetting_a_person_matches_them_as_owner_and_as_contact_until_a_day_ahead() -> None:
    tombstones = TombstoneSet([Tombstone.for_owner("xerxes", NOW)])
    assert tombstones.erased("xerxes", "ana", NOW - 1e6)
    assert tombstones.erased("ana", "xerxes", NOW)
    # Validation accepts events up to a day ahead: those published before the forget too.
    assert tombstones.erased("ana", "xerxes", NOW + MAX_FUTURE_SECONDS)
    assert not tombstones.erased("ana", "xerxes", NOW + MAX_FUTURE_SECONDS + 1)  # new: counts
    assert not tombstones.erased("ana", "bob", NOW)


def test_forgetting_a_contact_matches_that_owner_side_only() -> None:
    tombstones = TombstoneSet([Tombstone.for_contact("ana", "carl", NOW)])
    assert tombstones.erased("ana", "carl", NOW)
    assert not tombstones.erased("carl", "ana", NOW)  # carl's own network
    assert not tombstones.erased("ana", "bob", NOW)


def test_the_later_tombstone_wins_and_a_repeat_changes_nothing() -> None:
    tombstones = TombstoneSet()
    assert tombstones.add(Tombstone.for_owner("x", NOW))
    assert not tombstones.add(Tombstone.for_owner("x", NOW))
    assert not tombstones.add(Tombstone.for_owner("x", NOW - 5))
    assert tombstones.add(Tombstone.for_owner("x", NOW + 5))
    assert tombstones.tombstones() == [Tombstone.for_owner("x", NOW + 5)]


def test_tombstone_records_name_no_one_and_bad_ones_are_refused() -> None:
    tombstone = Tombstone.for_contact("ana-7311", "carl-9931", NOW)
    assert b"ana-7311" not in tombstone.encode() + tombstone.key
    assert b"carl-9931" not in tombstone.encode() + tombstone.key
    assert Tombstone.decode(tombstone.encode()) == tombstone
    # Ids are compared in NFC, as the ingest service normalises them.
    assert digest("jose\u0301") == digest("jos\u00e9")
    for bad in (b"", b"{}", b'{"owner": "a", "contact": "", "until": 1}', b"[1]"):
        with pytest.raises(ValueError, match="not a tombstone record"):
            Tombstone.decode(bad)


def _commit(store: StateStore) -> None:
    batch = Batch()
    for owner, contact in (("ana", "xerxes"), ("ana", "bob"), ("xerxes", "dana"), ("bob", "ana")):
        batch.states[(owner, contact)] = (0, new_state())
    batch.seen.update(
        {("ana", "a1"): NOW, ("ana", "~xerxes/x1"): NOW, ("xerxes", "x1"): NOW, ("bob", "b/1"): NOW}
    )
    batch.offsets[0] = 10
    store.commit(batch)


def test_an_erasure_deletes_rows_ids_and_mirrored_ids_and_rewrites_the_file(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path / "s.db", "t")
    _commit(store)
    eraser = Eraser(store)
    heard: list[set[str]] = []
    eraser.add_listener(lambda erased, _: heard.append(erased.owners))
    (ticket,) = eraser.submit([Tombstone.for_owner("xerxes", NOW)])
    erased = eraser.apply_pending()
    assert ticket.done.is_set() and ticket.removed == 2
    assert sorted(erased.relationships) == [("ana", "xerxes"), ("xerxes", "dana")]
    assert sorted(erased.seen) == [("ana", "~xerxes/x1"), ("xerxes", "x1")]
    assert heard == [{"ana", "xerxes"}]
    assert store.owner_states("ana")[0] == ["bob"]
    assert not store.owner_exists("xerxes")
    assert store.seen_time("ana", "a1") == NOW and store.seen_time("ana", "~xerxes/x1") is None
    data = b"".join(p.read_bytes() for p in tmp_path.glob("s.db*"))
    assert b"xerxes" not in data and b"dana" not in data
    # Applied once: a repeat (the topic read again) deletes nothing more.
    eraser.submit([Tombstone.for_owner("xerxes", NOW)])
    assert eraser.apply_pending().relationships == []
    store.close()
    reopened = StateStore(tmp_path / "s.db", "t")
    assert Eraser(reopened).known.erased("bob", "xerxes", NOW)  # kept in the store
    reopened.close()


def test_a_changelog_delete_removes_a_restored_relationship_and_event_id() -> None:
    result = RestoredPartition(0)
    rows: dict[tuple[str, str], tuple[int, bytes]] = {("ana", "xerxes"): (1, b"s")}
    result.seen[("ana", "~xerxes/x1")] = (1, NOW)
    for key in (f"Rana{SEP}xerxes", f"Sana{SEP}~xerxes/x1"):
        read_record(SimpleNamespace(key=key.encode(), value=None), result, rows)
    assert rows == {} and result.seen == {}


def test_an_erasure_ends_the_watch_streams_it_selects() -> None:
    hub = WatchHub(max_watchers=4)
    ana, bob = hub.subscribe("ana"), hub.subscribe("bob")
    hub.end_streams(lambda owner: owner == "ana")
    assert ana.changes.get_nowait() is End.ERASED  # the stream's end
    assert bob.changes.empty() and hub.open_streams == 1
