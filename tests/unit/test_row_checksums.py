"""Offsets, seen event ids and event history carry checksums; damage stops the start."""

from __future__ import annotations

import math
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from scoring_service.features.state import new_state
from scoring_service.integrity import DamagedStore
from scoring_service.row_checksums import DamagedHistory, history_checksum
from scoring_service.store import Batch, StateStore

TOPIC = "vinculo.interactions.v1"
T0 = 1_700_000_000.0
# owner, contact, t, type, direction, personalized, duration, audience, label, reply_to
HISTORY = [
    ("ana", "bo", T0, 1, 1, 1.0, 0.0, 1, 0, math.nan),
    ("ana", "bo", T0 + 5, 4, 2, 0.5, 1800.0, 1, 0, T0),
    ("ana", "cy", T0 + 9, 1, 1, 0.0, 0.0, 3, 0, math.nan),
]
DAMAGE = {
    "offsets": "UPDATE offsets SET next_offset = next_offset - 7",
    "seen_events": "UPDATE seen_events SET occurred_at = occurred_at + 1 WHERE event_id = 'e2'",
    "event_history": "UPDATE event_history SET duration = 1801 WHERE duration = 1800",
}


def make_store(path: Path) -> None:
    store = StateStore(path, TOPIC)
    batch = Batch()
    state = new_state()
    state[:] = T0 + 9  # LAST_TIME: an as_of before it refolds from the history
    batch.states[("ana", "bo")] = (3, state)
    batch.states[("ana", "cy")] = (3, state.copy())
    batch.seen[("ana", "e1")] = T0
    batch.seen[("ana", "e2")] = T0 + 5
    batch.history = list(HISTORY)  # type: ignore[arg-type]
    batch.offsets[3] = 42
    store.commit(batch)
    store.close()


def run(path: Path, *statements: str) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        for statement in statements:
            db.execute(statement)


def test_a_row_reads_back_with_its_checksum() -> None:
    # SQLite gives back 1.0 in an INTEGER column as 1 and a NaN as NULL.
    assert history_checksum(HISTORY[0]) == history_checksum(
        (*HISTORY[0][:5], 1, *HISTORY[0][6:9], None)
    )
    assert history_checksum(HISTORY[1]) != history_checksum(
        (*HISTORY[1][:6], 1801.0, *HISTORY[1][7:])
    )


@pytest.mark.parametrize("table", sorted(DAMAGE))
def test_a_damaged_row_stops_the_start_naming_its_table_and_rebuild_drops_it(
    tmp_path: Path, table: str
) -> None:
    path = tmp_path / "s.db"
    make_store(path)
    run(path, DAMAGE[table])
    with pytest.raises(
        DamagedStore, match=rf"1 row\(s\) of table {table} failed their checksum.*--rebuild-state"
    ):
        StateStore(path, TOPIC)
    rebuilt = StateStore(path, TOPIC, rebuild=True)
    try:
        assert rebuilt.next_offset(3) is None and rebuilt.count_relationships() == 0
    finally:
        rebuilt.close()


def test_a_damaged_history_row_is_not_served(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    make_store(path)
    store = StateStore(path, TOPIC)
    try:
        contacts, _ = store.owner_states_as_of("ana", T0 + 6)
        assert contacts == ["bo"]
        run(path, DAMAGE["event_history"])
        with pytest.raises(DamagedHistory, match="table event_history"):
            store.owner_states_as_of("ana", T0 + 6)
    finally:
        store.close()


def test_a_store_made_before_the_checksums_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    make_store(path)
    run(path, *(f"ALTER TABLE {table} DROP COLUMN crc" for table in DAMAGE))
    store = StateStore(path, TOPIC)  # fills every crc; nothing reads as damaged
    try:
        assert store.next_offset(3) == 42 and store.seen_time("ana", "e2") == T0 + 5
        contacts, states = store.owner_states_as_of("ana", T0 + 6)
        assert contacts == ["bo"] and np.isfinite(states).all()
    finally:
        store.close()
    run(path, DAMAGE["offsets"])  # and the migrated rows are checked from then on
    with pytest.raises(DamagedStore, match="table offsets"):
        StateStore(path, TOPIC)
