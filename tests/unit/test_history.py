"""The event history behind a past `as_of`: refolds exactly, refuses where it has no history."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from scoring_service.features.fold import apply_events
from scoring_service.features.state import new_state
from scoring_service.history import HistoryMissing
from scoring_service.store import Batch, StateStore
from vinculo.domain import Interaction
from vinculo.v1 import events_pb2 as ev

TOPIC = "vinculo.interactions.v1"
T0 = 1_750_000_000.0
MESSAGE, INBOUND, OUTBOUND = (
    ev.INTERACTION_TYPE_MESSAGE,
    ev.DIRECTION_INBOUND,
    ev.DIRECTION_OUTBOUND,
)


def _events() -> list[Interaction]:
    return [Interaction(MESSAGE, INBOUND if i % 2 else OUTBOUND, T0 + i * 86_400) for i in range(6)]


def _batch(events: list[Interaction]) -> Batch:
    state = new_state()
    apply_events(state, events)
    batch = Batch()
    batch.states[("ana", "bo")] = (0, state)
    batch.offsets[0] = len(events)
    batch.history = [
        ("ana", "bo", e.time, e.type, e.direction, 0.0, 0.0, 0, 0, math.nan) for e in events
    ]
    return batch


def test_a_past_as_of_is_refolded_from_the_events_up_to_it(tmp_path: Path) -> None:
    events = _events()
    store = StateStore(tmp_path / "s.db", TOPIC)
    store.commit(_batch(events))
    expected = new_state()
    apply_events(expected, events[:3])
    contacts, states = store.owner_states_as_of("ana", events[2].time)
    assert contacts == ["bo"]
    np.testing.assert_array_equal(states[0], expected)
    assert store.owner_states_as_of("ana", T0 - 1)[0] == []  # before the first event
    now = store.owner_states_as_of("ana", events[-1].time)[1]
    np.testing.assert_array_equal(now, store.owner_states("ana")[1])
    store.close()


def test_a_store_made_without_history_refuses_a_past_as_of_and_says_how_to_fix(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path / "s.db", TOPIC)
    store.commit(_batch(_events()))
    store._conn.execute("DROP TABLE event_history")  # as a store of the build before
    store.close()
    reopened = StateStore(tmp_path / "s.db", TOPIC)
    with pytest.raises(HistoryMissing, match="--rebuild-state"):
        reopened.owner_states_as_of("ana", T0 + 86_400)
    assert reopened.owner_states_as_of("ana", T0 + 10 * 86_400)[0] == ["bo"]  # after: exact
    reopened.close()
    rebuilt = StateStore(tmp_path / "s.db", TOPIC, rebuild=True)  # --rebuild-state
    assert rebuilt.owner_states("ana")[0] == []  # dropped, to be re-consumed with history
    assert rebuilt.next_offset(0) is None
    assert rebuilt.owner_states_as_of("ana", T0)[0] == []
    rebuilt.close()


def test_an_owner_restored_from_the_changelog_is_refused_a_past_as_of(tmp_path: Path) -> None:
    events = _events()
    store = StateStore(tmp_path / "s.db", TOPIC)
    batch = _batch(events)
    store.apply_restored(0, {("ana", "bo"): batch.states[("ana", "bo")][1]}, {}, 6)
    with pytest.raises(HistoryMissing, match="restored from the changelog"):
        store.owner_states_as_of("ana", events[2].time)
    assert store.owner_states_as_of("ana", events[-1].time)[0] == ["bo"]  # now: exact
    store.close()
