"""Row checksums: the upgrade of a store made before them, and refusal of damaged rows."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from scoring_service.integrity import DamagedState, DamagedStore
from scoring_service.store import StateStore
from tests.unit.test_store import TOPIC, _batch, _state


def drop_checksums(path: Path) -> None:
    """Rewrite the relationships table as stores were made before checksums."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.executescript(
            """
            CREATE TABLE old (owner TEXT NOT NULL, contact TEXT NOT NULL,
                partition INTEGER NOT NULL, state BLOB NOT NULL,
                schema_version INTEGER NOT NULL, PRIMARY KEY (owner, contact)) WITHOUT ROWID;
            INSERT INTO old SELECT owner, contact, partition, state, schema_version
                FROM relationships;
            DROP TABLE relationships;
            ALTER TABLE old RENAME TO relationships;
            """
        )


def test_a_store_without_checksums_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = StateStore(path, TOPIC)
    store.commit(_batch())
    store.close()
    drop_checksums(path)

    upgraded = StateStore(path, TOPIC)
    try:
        contacts, states = upgraded.owner_states("ana")
        assert contacts == ["bo", "cy"]
        np.testing.assert_array_equal(states[0], _state(1.5))
        assert upgraded.next_offset(3) == 42
    finally:
        upgraded.close()


def test_a_damaged_row_is_refused_on_read_and_at_start(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = StateStore(path, TOPIC)
    store.commit(_batch())
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("UPDATE relationships SET state = x'00' || substr(state, 2) WHERE contact='cy'")
    with pytest.raises(DamagedState) as caught:
        store.owner_states("ana")
    assert caught.value.contacts == ["cy"]
    with pytest.raises(DamagedState):
        store.load_states([("ana", "cy")])  # the writer never folds into it either
    assert store.relationship_state("ana", "bo") is not None
    store.close()

    with pytest.raises(DamagedStore, match=r"1 relationship row.*--rebuild-state"):
        StateStore(path, TOPIC)
    rebuilt = StateStore(path, TOPIC, rebuild=True)
    try:
        assert rebuilt.count_relationships() == 0
        assert rebuilt.next_offset(3) is None  # re-consumed from the beginning
    finally:
        rebuilt.close()


def test_an_empty_or_foreign_file_is_refused_then_set_aside(tmp_path: Path) -> None:
    for content in (b"", b"not a database at all, just bytes" * 200):
        path = tmp_path / "s.db"
        path.write_bytes(content)
        with pytest.raises(DamagedStore, match="--rebuild-state"):
            StateStore(path, TOPIC)
        store = StateStore(path, TOPIC, rebuild=True)
        store.close()
        assert [p for p in tmp_path.iterdir() if ".damaged-" in p.name]
        for p in tmp_path.iterdir():
            p.unlink()
