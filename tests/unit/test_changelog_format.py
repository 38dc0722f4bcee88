"""The changelog's records: a batch written in format 2 reads back whole, an old
(format 1) changelog still restores, and a record of an unknown format is refused."""

from __future__ import annotations

import json
import math
import struct
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from scoring_service.codec import decode_states, encode_states
from scoring_service.features.state import new_state
from scoring_service.history import HistoryRow
from scoring_service.routing.changelog_format import (
    SEP,
    ChangelogFormatError,
    RestoredPartition,
    batch_records,
    is_batch_end,
    read_record,
)
from scoring_service.store import Batch, RelationshipKey

INF = math.inf


def row(owner: str, contact: str, t: float, reply: float = math.nan) -> HistoryRow:
    return (owner, contact, t, 3, 1, 1.0, 60.0, 0, 0, reply)


def a_batch() -> Batch:
    one, two = new_state(), new_state()
    one[0], two[1] = 1.5, 2.5
    batch = Batch()
    batch.states = {("ana", "bo"): (0, one), ("cy", "di"): (1, two)}
    batch.offsets = {0: 10, 1: 20}
    batch.history = [row("ana", "bo", 100.0), row("cy", "di", 200.0, reply=150.0)]
    batch.history_ids = ["e1", "e2"]
    batch.seen = {("ana", "e1"): 100.0, ("cy", "e2"): 200.0, ("ana", "guarded"): 90.0}
    batch.profiles = {("ana", "bo"): (("Bo", 100.0), ("", -INF), ("", -INF))}
    return batch


def restore_of(
    records: list[tuple[int, bytes, bytes]], erased: Any = None
) -> dict[int, RestoredPartition]:
    parts: dict[int, RestoredPartition] = {}
    rows: dict[int, dict[RelationshipKey, tuple[int, bytes]]] = {}
    for offset, (p, key, value) in enumerate(records):
        record = SimpleNamespace(key=key, value=value, offset=offset)
        read_record(record, parts.setdefault(p, RestoredPartition(p)), rows.setdefault(p, {}),
                    erased)  # fmt: skip
    for p, found in rows.items():
        states = decode_states([blob for _, blob in found.values()])
        parts[p].states = {k: (found[k][0], states[i]) for i, k in enumerate(found)}
    return parts


def test_a_batch_is_a_record_per_relationship_and_profile_and_one_closing_one_per_partition() -> (
    None
):
    batch = a_batch()
    stored = {("ana", "bo"): (("", -INF), ("Acme", 50.0), ("", -INF))}
    records = list(batch_records(batch, "log-1", 8, stored))
    kinds = [(p, k[:1]) for p, k, _ in records]
    assert kinds == [(0, b"R"), (1, b"R"), (0, b"P"), (0, b"E"), (1, b"E")]
    parts = restore_of(records)
    ana, cy = parts[0], parts[1]
    assert (ana.next_offset, ana.log_id, cy.next_offset) == (10, "log-1", 20)
    assert ana.states[("ana", "bo")][0] == 10
    np.testing.assert_array_equal(ana.states[("ana", "bo")][1], batch.states[("ana", "bo")][1])
    np.testing.assert_array_equal(cy.states[("cy", "di")][1], batch.states[("cy", "di")][1])
    assert ana.profiles[("ana", "bo")] == (("Bo", 100.0), ("Acme", 50.0), ("", -INF))
    assert ana.events[("ana", "e1")][:9] == row("ana", "bo", 100.0)[:9]
    assert math.isnan(ana.events[("ana", "e1")][9])
    assert cy.events[("cy", "e2")] == row("cy", "di", 200.0, reply=150.0)
    # the guard's id is kept (deduplication) without a row: its owner's history is missing
    assert ana.durable_seen() == {("ana", "e1"): 100.0, ("ana", "guarded"): 90.0}
    assert ana.history().incomplete == {"ana"}
    assert cy.history().rows == [row("cy", "di", 200.0, reply=150.0)]


def test_a_state_record_without_its_closing_record_is_from_an_unfinished_batch() -> None:
    first = list(batch_records(a_batch(), "log-1", 8, {}))
    later = a_batch()
    later.offsets = {0: 30}
    later.states = {("ana", "bo"): later.states[("ana", "bo")]}
    later.history, later.history_ids, later.seen = later.history[:1], ["e3"], {("ana", "e3"): 100.0}
    cut = [r for r in batch_records(later, "log-1", 8, {}) if r[1][:1] == b"R"]
    part = restore_of(first + cut)[0]
    assert part.next_offset == 10
    guard = part.guard()
    assert guard is not None and guard.rows == {("ana", "bo"): 30}


def test_events_the_erasure_tombstones_match_are_left_out() -> None:
    forgotten = lambda owner, contact, t: contact == "bo"  # noqa: E731
    parts = restore_of(list(batch_records(a_batch(), "log-1", 8, {})), forgotten)
    assert ("ana", "e1") not in parts[0].seen and ("ana", "e1") not in parts[0].events
    assert ("cy", "e2") in parts[1].events


def test_a_version_1_changelog_still_restores() -> None:
    end = struct.Struct(">q")
    state = new_state()
    state[0] = 4.0
    history = struct.Struct(">iiddqid").pack(3, 1, 1.0, 60.0, 0, 0, math.nan)
    marker = json.dumps({"next_offset": 7, "log_id": "old"}).encode()
    profile = json.dumps([["Bo", 1.0], ["", -INF], ["", -INF]]).encode()
    records = [
        (0, f"Sana{SEP}e1".encode(), struct.pack(">qd", 7, 100.0) + history + b"bo"),
        (0, f"Pana{SEP}bo".encode(), end.pack(7) + profile),
        (0, f"Rana{SEP}bo".encode(), end.pack(7) + encode_states(state.reshape(1, -1))[0]),
        (0, b"M", end.pack(7) + marker),
    ]
    part = restore_of(records)[0]
    assert (part.next_offset, part.log_id) == (7, "old")
    assert part.states[("ana", "bo")][1][0] == 4.0
    assert part.events[("ana", "e1")][:9] == row("ana", "bo", 100.0)[:9]
    assert part.profiles[("ana", "bo")][0] == ("Bo", 1.0)
    assert is_batch_end(b"M") and is_batch_end(b"E7") and not is_batch_end(b"Rana")


def test_a_record_of_an_unknown_format_is_refused_with_what_to_do() -> None:
    with pytest.raises(ChangelogFormatError, match=r"format version 9; this build reads"):
        restore_of([(3, f"Rana{SEP}bo".encode(), b"\x09" + bytes(20))])


def test_a_forgotten_relationship_loses_its_state_and_profile() -> None:
    records = list(batch_records(a_batch(), "log-1", 8, {}))
    deletes = [(0, f"{kind}ana{SEP}bo".encode(), None) for kind in "RP"]
    part = restore_of(records + deletes)[0]  # type: ignore[operator]
    assert ("ana", "bo") not in part.states and ("ana", "bo") not in part.profiles
