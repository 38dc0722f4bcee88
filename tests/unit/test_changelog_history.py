"""What a changelog restore gives back besides the states: the applied events in order,
the owners whose events it cannot vouch for, and whole contact profiles."""

from __future__ import annotations

import math

from scoring_service.history import HistoryRow
from scoring_service.profiles import EMPTY, merge
from scoring_service.routing.changelog import RestoredPartition

INF = math.inf


def row(owner: str, contact: str, t: float) -> HistoryRow:
    return (owner, contact, t, 1, 1, 0.0, 0.0, 0, 0, math.nan)


def test_history_of_finished_batches_in_the_order_applied() -> None:
    part = RestoredPartition(0, next_offset=10)
    part.seen = {("ana", "e2"): (5, 2.0), ("ana", "e1"): (10, 1.0), ("bo", "e3"): (10, 3.0)}
    part.events = {key: row(key[0], "c", t) for key, (_, t) in part.seen.items()}
    restored = part.history()
    assert [r[2] for r in restored.rows] == [2.0, 1.0, 3.0]  # applied order, not time order
    assert restored.incomplete == set()


def test_an_unfinished_batch_is_left_to_the_replay_and_a_missing_row_marks_its_owner() -> None:
    part = RestoredPartition(0, next_offset=10)
    part.seen = {("ana", "e1"): (10, 1.0), ("bo", "e2"): (10, 2.0), ("cy", "e3"): (20, 3.0)}
    part.events = {("ana", "e1"): row("ana", "c", 1.0), ("cy", "e3"): row("cy", "c", 3.0)}
    restored = part.history()
    assert [r[0] for r in restored.rows] == ["ana"]  # cy's batch never finished: replayed
    assert restored.incomplete == {"bo"}  # an event without its row (an older writer)


def test_an_owner_under_the_restore_guard_has_no_history() -> None:
    part = RestoredPartition(0, next_offset=10)
    part.seen = {("ana", "e1"): (10, 1.0)}
    part.events = {("ana", "e1"): row("ana", "c", 1.0)}
    part.states = {("ana", "c"): (20, None)}  # type: ignore[dict-item]  # state of an unfinished batch
    restored = part.history()
    assert restored.incomplete == {"ana"}  # the guard skips events its state holds


def test_a_profile_is_merged_field_by_field_newest_set_value_wins() -> None:
    stored = (("Ana Old", 1.0), ("Acme", 1.0), ("", -INF))
    batch = (("Ana New", 2.0), ("", -INF), ("CTO", 2.0))
    assert merge(stored, batch) == (("Ana New", 2.0), ("Acme", 1.0), ("CTO", 2.0))
    assert merge(batch, stored) == (("Ana New", 2.0), ("Acme", 1.0), ("CTO", 2.0))
    assert merge(EMPTY, batch) == batch
