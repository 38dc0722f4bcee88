"""The watch hub: streams wait without polling, so every way a stream ends must wake it."""

from __future__ import annotations

import numpy as np
import pytest

from scoring_service.features.state import STATE_SIZE
from scoring_service.store import Batch
from scoring_service.watch import QUEUE_LIMIT, End, OwnerChanges, TooManyWatchers, WatchHub


def _batch(owner: str, contact: str) -> Batch:
    batch = Batch()
    batch.states[(owner, contact)] = (0, np.ones(STATE_SIZE))
    batch.before[(owner, contact)] = None
    return batch


def test_a_watcher_that_falls_behind_is_woken_with_overflowed_and_dropped() -> None:
    hub = WatchHub(max_watchers=2)
    watcher = hub.subscribe("ana")
    for i in range(QUEUE_LIMIT + 5):
        hub.publish(_batch("ana", f"c{i}"), committed_at=float(i))
    items = [watcher.changes.get_nowait() for _ in range(watcher.changes.qsize())]
    assert len(items) == QUEUE_LIMIT + 1
    assert all(isinstance(item, OwnerChanges) for item in items[:QUEUE_LIMIT])
    assert items[-1] is End.OVERFLOWED
    assert watcher.overflowed and hub.open_streams == 0


def test_close_wakes_every_stream_even_a_full_one() -> None:
    hub = WatchHub(max_watchers=3)
    full, idle = hub.subscribe("ana"), hub.subscribe("luis")
    for i in range(QUEUE_LIMIT):
        hub.publish(_batch("ana", f"c{i}"), committed_at=float(i))
    hub.close()
    assert idle.changes.get_nowait() is End.CLOSED
    items = [full.changes.get_nowait() for _ in range(full.changes.qsize())]
    assert items[-1] is End.CLOSED and len(items) == QUEUE_LIMIT + 1
    late = hub.subscribe("ana")
    assert late.changes.get_nowait() is End.CLOSED


def test_only_the_owners_streams_get_its_changes_and_share_them() -> None:
    hub = WatchHub()
    first, second, other = hub.subscribe("ana"), hub.subscribe("ana"), hub.subscribe("luis")
    hub.publish(_batch("ana", "c1"), committed_at=1.0)
    a, b = first.changes.get_nowait(), second.changes.get_nowait()
    assert isinstance(a, OwnerChanges) and a is b  # one object: scored once for both
    assert a.contacts == ["c1"] and other.changes.empty()


def test_a_commit_of_many_owners_gives_each_watched_owner_its_own_rows_in_order() -> None:
    hub = WatchHub()
    ana, luis = hub.subscribe("ana"), hub.subscribe("luis")
    batch = Batch()
    for owner, contact in [("ana", "c2"), ("zoe", "c9"), ("luis", "c1"), ("ana", "c1")]:
        batch.states[(owner, contact)] = (0, np.full(STATE_SIZE, float(len(contact))))
        batch.before[(owner, contact)] = None if contact == "c2" else np.zeros(STATE_SIZE)
    hub.publish(batch, committed_at=2.0)
    a, b = ana.changes.get_nowait(), luis.changes.get_nowait()
    assert isinstance(a, OwnerChanges) and isinstance(b, OwnerChanges)
    assert a.contacts == ["c2", "c1"] and b.contacts == ["c1"]
    assert a.before[0] is None and a.before[1] is not None and a.committed_at == 2.0
    assert ana.changes.empty() and luis.changes.empty()


def test_the_stream_limit_counts_each_stream_once_however_often_it_is_dropped() -> None:
    hub = WatchHub(max_watchers=2)
    first, _ = hub.subscribe("ana"), hub.subscribe("luis")
    with pytest.raises(TooManyWatchers, match="2 watch streams already open"):
        hub.subscribe("ana")
    hub.unsubscribe(first)
    hub.unsubscribe(first)  # the stream's own `finally` after the hub dropped it
    assert hub.open_streams == 1
    hub.subscribe("zoe")
    with pytest.raises(TooManyWatchers):
        hub.subscribe("zoe")
    hub.close()
    assert hub.open_streams == 0
