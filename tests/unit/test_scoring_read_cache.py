"""Reads as of now share one scored network per owner: cached, dropped by a commit that
changes the owner, carried forward without reading the store again."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from scoring_service.features.state import FloatArray
from scoring_service.scored_network import network_cache
from scoring_service.servicer import ScoringServicer
from scoring_service.store import Batch, StateStore
from scoring_service.watch import WatchHub
from tests.unit.scoring_fakes import T0, FakeScorer, OwnerRelativeScorer, served, state_of
from vinculo.v1 import scoring_pb2 as pb


class CountingScorer(FakeScorer):
    def __init__(self) -> None:
        self.calls = 0

    def score(
        self, states: FloatArray, as_of: float, context: FloatArray | None = None
    ) -> FloatArray:
        self.calls += 1
        return super().score(states, as_of, context)


def test_reads_as_of_now_are_cached_and_fresh_after_a_commit(tmp_path: Path) -> None:
    """Reads as of now share one scored network per owner; the next read after a
    commit that changed the owner reflects it, another owner's commit keeps it."""
    store = StateStore(tmp_path / "s.db", "vinculo.interactions.v1")
    batch = Batch()
    for i, contact in enumerate(["c0", "c1", "c2"]):
        batch.states[("ana", contact)] = (0, state_of(i + 1))
    batch.states[("bo", "c0")] = (0, state_of(1))
    batch.offsets[0] = 4
    store.commit(batch)
    scorer = CountingScorer()
    hub = WatchHub()
    servicer = ScoringServicer(store, scorer, hub, clock=lambda: T0 + 100)
    try:
        with served(servicer) as stub:

            def top() -> list[tuple[str, float]]:
                reply = stub.ListRelationships(pb.ListRelationshipsRequest(owner_id="ana"))
                return [(r.contact_id, r.score) for r in reply.relationships]

            def get(contact: str) -> float:
                request = pb.GetRelationshipRequest(owner_id="ana", contact_id=contact)
                return float(stub.GetRelationship(request).relationship.score)

            assert top()[0] == ("c2", pytest.approx(0.3))
            assert get("c0") == pytest.approx(0.1)
            stub.GetNetworkSummary(pb.GetNetworkSummaryRequest(owner_id="ana"))
            assert scorer.calls == 1  # one scoring of ana's network served all three
            other = Batch()
            other.states[("bo", "c0")] = (0, state_of(2))
            other.offsets[0] = 5
            store.commit(other)
            top()
            assert scorer.calls == 1  # bo's commit leaves ana's entry
            change = Batch()
            change.states[("ana", "c0")] = (0, state_of(9))
            change.offsets[0] = 6
            store.commit(change)
            assert get("c0") == pytest.approx(0.9)  # the very next read sees the commit
            assert top()[0] == ("c0", pytest.approx(0.9))
            assert scorer.calls == 2
            # the summary is kept with the scored network: a new contact shows at once
            summary = pb.GetNetworkSummaryRequest(owner_id="ana")
            assert stub.GetNetworkSummary(summary).total_contacts == 3
            added = Batch()
            added.states[("ana", "c9")] = (0, state_of(1))
            added.offsets[0] = 7
            store.commit(added)
            assert stub.GetNetworkSummary(summary).total_contacts == 4
            assert scorer.calls == 3
            # an explicit as_of is computed, not cached (one after every event: these
            # states were written without an event history to refold an earlier one from)
            request = pb.ListRelationshipsRequest(owner_id="ana")
            request.as_of.FromSeconds(int(T0) + 200)
            stub.ListRelationships(request)
            assert scorer.calls == 4
    finally:
        hub.close()
        store.close()


class _Context:
    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise AssertionError(f"{code}: {details}")


def _ranking(servicer: ScoringServicer, owner: str) -> list[tuple[str, float]]:
    request = pb.ListRelationshipsRequest(owner_id=owner, page_size=100)
    reply = servicer.ListRelationships(request, _Context())  # type: ignore[arg-type]
    return [(r.contact_id, r.score) for r in reply.relationships]


def test_a_commit_carries_the_cached_network_forward_without_reading_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StateStore(tmp_path / "s.db", "vinculo.interactions.v1")
    first = Batch()
    for i, contact in enumerate(["b", "d", "f"]):
        first.states[("ana", contact)] = (0, state_of(i + 1))
    first.offsets[0] = 3
    store.commit(first)
    cached = ScoringServicer(store, OwnerRelativeScorer(), WatchHub(), clock=lambda: T0 + 100)
    uncached = ScoringServicer(
        store, OwnerRelativeScorer(), WatchHub(), clock=lambda: T0 + 100, cache=network_cache(0)
    )
    reads: list[str] = []
    original = store.owner_states

    def counted(owner: str) -> tuple[list[str], FloatArray]:
        reads.append(owner)
        return original(owner)

    monkeypatch.setattr(store, "owner_states", counted)
    try:
        assert _ranking(cached, "ana") == _ranking(uncached, "ana")
        reads.clear()
        change = Batch()  # one changed row and two new contacts, before and after the others
        change.states[("ana", "d")] = (0, state_of(9))
        change.states[("ana", "a")] = (0, state_of(4))
        change.states[("ana", "e")] = (0, state_of(2))
        change.offsets[0] = 6
        store.commit(change)
        after = _ranking(cached, "ana")
        assert reads == []  # scored from the carried-forward states
        assert after == _ranking(uncached, "ana")  # exactly what the store now holds
        assert [contact for contact, _ in after] == ["d", "a", "f", "e", "b"]
    finally:
        store.close()
