from __future__ import annotations

from ingest_service.dedupe import RecentEvents


def test_remembers_added_keys() -> None:
    recent = RecentEvents(10)
    recent.add_all([("ana", "e1"), ("ana", "e2")])
    assert ("ana", "e1") in recent
    assert ("bruno", "e1") not in recent


def test_forgets_the_oldest_beyond_capacity() -> None:
    recent = RecentEvents(2)
    recent.add_all([("ana", "e1"), ("ana", "e2")])
    recent.add_all([("ana", "e1")])  # refreshed: now the newest
    recent.add_all([("ana", "e3")])
    assert len(recent) == 2
    assert ("ana", "e2") not in recent
    assert ("ana", "e1") in recent and ("ana", "e3") in recent


def test_zero_capacity_disables_it() -> None:
    recent = RecentEvents(0)
    recent.add_all([("ana", "e1")])
    assert ("ana", "e1") not in recent
