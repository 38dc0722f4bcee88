"""The state store: state and offsets commit together, and survive reopening."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from scoring_service.features.state import STATE_SCHEMA_VERSION, STATE_SIZE, new_state
from scoring_service.store import Batch, SeenBefore, StateSchemaMismatch, StateStore

TOPIC = "vinculo.interactions.v1"


def _state(value: float) -> np.ndarray:
    state = new_state()
    state[:] = value
    return state


def _batch() -> Batch:
    batch = Batch()
    batch.states[("ana", "bo")] = (3, _state(1.5))
    batch.states[("ana", "cy")] = (3, _state(2.5))
    batch.before[("ana", "bo")] = None
    batch.seen[("ana", "e1")] = 1_700_000_000.0
    batch.offsets[3] = 42
    return batch


def test_state_and_offsets_survive_reopening(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db", TOPIC)
    store.commit(_batch())
    store.close()

    reopened = StateStore(tmp_path / "s.db", TOPIC)
    try:
        assert reopened.next_offset(3) == 42
        assert reopened.next_offset(4) is None
        contacts, states = reopened.owner_states("ana")
        assert contacts == ["bo", "cy"]
        assert states.shape == (2, STATE_SIZE)
        np.testing.assert_array_equal(states[1], _state(2.5))
        assert reopened.seen_time("ana", "e1") == 1_700_000_000.0
        assert reopened.seen_time("ana", "e2") is None
        assert reopened.count_relationships() == 2
    finally:
        reopened.close()


def test_failed_commit_writes_neither_state_nor_offsets(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db", TOPIC)
    batch = _batch()
    batch.offsets[5] = "not an offset"  # type: ignore[assignment]
    # Make the offsets insert fail after the state rows went in.
    store._conn.execute(
        "CREATE TRIGGER no_text BEFORE INSERT ON offsets WHEN typeof(NEW.next_offset) = 'text' "
        "BEGIN SELECT RAISE(ABORT, 'bad offset'); END"
    )
    with pytest.raises(sqlite3.IntegrityError):
        store.commit(batch)
    assert store.next_offset(3) is None
    assert store.owner_states("ana")[0] == []
    assert store.seen_time("ana", "e1") is None
    store.close()


def test_later_commit_replaces_state_and_offset(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db", TOPIC)
    store.commit(_batch())
    second = Batch()
    second.states[("ana", "bo")] = (3, _state(9.0))
    second.offsets[3] = 50
    store.commit(second)
    assert store.next_offset(3) == 50
    np.testing.assert_array_equal(store.relationship_state("ana", "bo"), _state(9.0))
    loaded = store.load_state("ana", "bo")
    assert loaded is not None
    loaded[0] = -1.0  # loaded states are writable copies
    store.close()


def _write_foreign_version(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("UPDATE relationships SET schema_version = ?", (STATE_SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()


def test_state_of_another_schema_version_is_refused_or_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = StateStore(path, TOPIC)
    store.commit(_batch())
    store.close()
    _write_foreign_version(path)

    with pytest.raises(StateSchemaMismatch, match=f"version {STATE_SCHEMA_VERSION}"):
        StateStore(path, TOPIC)

    rebuilt = StateStore(path, TOPIC, rebuild=True)
    try:
        assert rebuilt.count_relationships() == 0
        assert rebuilt.next_offset(3) is None  # re-consume from the log's beginning
        assert rebuilt.seen_time("ana", "e1") is None
    finally:
        rebuilt.close()


def test_a_new_log_drops_its_offsets_but_keeps_state(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db", TOPIC)
    try:
        assert store.log_id() is None
        store.start_new_log("id-1")
        store.commit(_batch())
        store.start_new_log("id-2")
        assert store.log_id() == "id-2"
        assert store.next_offset(3) is None
        assert store.count_relationships() == 2
    finally:
        store.close()


def test_no_unused_partition_index_and_schema_creation_is_idempotent(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db", TOPIC)
    store._conn.execute("CREATE INDEX relationships_by_partition ON relationships (partition)")
    store.commit(_batch())
    store.close()
    for _ in range(2):  # an older store loses the index; opening again changes nothing
        reopened = StateStore(tmp_path / "s.db", TOPIC)
        indexes = reopened._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        assert indexes == [("event_history_by_owner_seq",)]  # reads of a past as_of use it
        assert reopened.owner_states("ana")[0] == ["bo", "cy"]
        reopened.close()


def test_commit_listeners_hear_the_changed_rows_of_each_owner(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db", TOPIC)
    heard: list[dict[str, list[tuple[str, np.ndarray]]]] = []
    store.add_commit_listener(heard.append)
    store.commit(_batch())
    offsets_only = Batch()
    offsets_only.offsets[3] = 43
    store.commit(offsets_only)
    assert len(heard) == 1 and list(heard[0]) == ["ana"]
    rows = dict(heard[0]["ana"])
    assert sorted(rows) == ["bo", "cy"]
    np.testing.assert_array_equal(rows["cy"], _state(2.5))
    store.close()


def test_load_states_reads_many_relationships_at_once(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db", TOPIC)
    try:
        store.commit(_batch())
        loaded = store.load_states([("ana", "bo"), ("ana", "cy"), ("ana", "nobody")])
        assert sorted(loaded) == [("ana", "bo"), ("ana", "cy")]
        np.testing.assert_array_equal(loaded[("ana", "cy")], _state(2.5))
        assert store.load_states([]) == {}
    finally:
        store.close()


def test_the_write_ahead_log_is_checkpointed_and_stays_bounded(tmp_path: Path) -> None:
    # Each batch appends ~1.8 MB of pages to the WAL, which the background's passive
    # checkpoints alone let grow to ~9 MB over five batches (measured); the limit is 2 MiB.
    store = StateStore(tmp_path / "s.db", TOPIC, wal_limit_mb=2)
    wal = tmp_path / "s.db-wal"
    try:
        sizes = []
        for round_ in range(5):
            batch = Batch()
            for i in range(2_000):
                batch.states[("ana", f"c{round_}-{i}")] = (0, _state(float(i)))
            batch.offsets[0] = round_
            store.commit(batch)
            sizes.append(wal.stat().st_size)
        assert max(sizes) <= 2 * 2**20, sizes
        assert store.count_relationships() == 10_000
    finally:
        store.close()
    reopened = StateStore(tmp_path / "s.db", TOPIC)
    try:
        assert reopened.count_relationships() == 10_000
        np.testing.assert_array_equal(reopened.relationship_state("ana", "c4-7"), _state(7.0))
    finally:
        reopened.close()


def test_a_batch_repeating_a_stored_event_id_is_refused_whole(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db", TOPIC)
    try:
        store.commit(_batch())
        repeat = Batch()
        repeat.states[("ana", "bo")] = (3, _state(9.0))
        repeat.seen[("ana", "e2")] = 1_700_000_100.0
        repeat.seen[("ana", "e1")] = 1_700_000_200.0  # stored by the first batch
        repeat.offsets[3] = 50
        with pytest.raises(SeenBefore):
            store.commit(repeat)
        np.testing.assert_array_equal(store.relationship_state("ana", "bo"), _state(1.5))
        assert store.next_offset(3) == 42
        assert store.seen_time("ana", "e2") is None
    finally:
        store.close()
