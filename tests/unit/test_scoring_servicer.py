"""The read RPCs over a real in-process server, with a tiny fake model: answers,
pages and errors (the watch stream, the read cache and the scoring slots have
files of their own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from scoring_service.scored_network import network_cache
from scoring_service.servicer import ScoringServicer
from scoring_service.store import Batch, StateStore
from scoring_service.watch import OwnerChanges, WatchHub
from tests.unit.scoring_fakes import (
    T0,
    FakeScorer,
    OwnerRelativeScorer,
    ana_seven_store,
    served,
    state_of,
    status_of,
)
from vinculo.v1 import events_pb2 as events
from vinculo.v1 import scoring_pb2 as pb
from vinculo.v1 import scoring_pb2_grpc


@pytest.fixture
def stub(tmp_path: Path) -> Iterator[scoring_pb2_grpc.ScoringServiceStub]:
    """Ana's seven relationships, c0 with one message up to c6 with seven."""
    store = ana_seven_store(tmp_path / "s.db")
    hub = WatchHub()
    servicer = ScoringServicer(store, FakeScorer(), hub, clock=lambda: T0 + 100)
    try:
        with served(servicer) as client:
            yield client
    finally:
        hub.close()
        store.close()


def test_get_relationship(stub: scoring_pb2_grpc.ScoringServiceStub) -> None:
    reply = stub.GetRelationship(pb.GetRelationshipRequest(owner_id="ana", contact_id="c4"))
    rel = reply.relationship
    assert (rel.contact_id, rel.score, rel.tier) == ("c4", 0.5, events.TIER_RELATIONSHIP)
    assert rel.explanation == ["5 events"] and rel.trend == pb.TREND_STRENGTHENING
    assert rel.signals.counts[0].kind == "message" and reply.model_version == "fake-1"
    code, details = status_of(
        lambda: stub.GetRelationship(pb.GetRelationshipRequest(owner_id="ana"))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("contact_id")
    code, details = status_of(
        lambda: stub.GetRelationship(pb.GetRelationshipRequest(owner_id="ana", contact_id="zz"))
    )
    assert code == grpc.StatusCode.NOT_FOUND and details.startswith("contact_id")
    code, details = status_of(
        lambda: stub.GetRelationship(pb.GetRelationshipRequest(owner_id="nobody", contact_id="c1"))
    )
    assert code == grpc.StatusCode.NOT_FOUND and details.startswith("owner_id")


@pytest.mark.parametrize("cache_owners", [256, 0], ids=["cached", "uncached"])
def test_get_relationship_scores_as_list_relationships_does(
    tmp_path: Path, cache_owners: int
) -> None:
    """A score may read the owner's whole network: GetRelationship must give the score
    that ListRelationships gives the same relationship, and so must WatchRelationships;
    with the cache of scored networks and without it."""
    store = StateStore(tmp_path / "s.db", "vinculo.interactions.v1")
    batch = Batch()
    for i, contact in enumerate(["c0", "c1", "c2", "c3"]):
        batch.states[("ana", contact)] = (0, state_of(i + 1))
    batch.offsets[0] = 4
    store.commit(batch)
    hub = WatchHub()
    scorer = OwnerRelativeScorer()
    servicer = ScoringServicer(
        store, scorer, hub, clock=lambda: T0 + 100, cache=network_cache(cache_owners)
    )
    try:
        with served(servicer) as stub:
            listed = stub.ListRelationships(pb.ListRelationshipsRequest(owner_id="ana"))
            by_contact = {r.contact_id: r.score for r in listed.relationships}
            assert by_contact["c3"] == pytest.approx(0.4)  # 4 of the owner's 10 events
            for contact, score in by_contact.items():
                got = stub.GetRelationship(
                    pb.GetRelationshipRequest(owner_id="ana", contact_id=contact)
                )
                assert got.relationship.score == score
            # a watched change is scored in the network after (and before) the commit
            change = Batch()
            change.before[("ana", "c0")] = store.load_state("ana", "c0")
            change.states[("ana", "c0")] = (0, state_of(6))
            change.offsets[0] = 5
            store.commit(change)
            before = [change.before[("ana", "c0")]]
            changes = OwnerChanges("ana", ["c0"], before, [state_of(6)], T0 + 50)
            (watched,) = servicer.watches.responses(changes, 0.01)
            # the owner's other streams with the same threshold get the same message objects
            assert servicer.watches.responses(changes, 0.01)[0] is watched
            # moved by 0.3 only, but into another tier: reported whatever the threshold
            assert watched.tier != watched.previous_tier
            assert servicer.watches.responses(changes, 0.9) == (watched,)
            assert watched.previous_score == pytest.approx(1 / 10)
            assert watched.score == pytest.approx(6 / 15)
            listed = stub.ListRelationships(pb.ListRelationshipsRequest(owner_id="ana"))
            assert {r.contact_id: r.score for r in listed.relationships}["c0"] == watched.score
    finally:
        hub.close()
        store.close()


def test_list_pages_through_the_ranking(stub: scoring_pb2_grpc.ScoringServiceStub) -> None:
    seen: list[str] = []
    token = ""
    while True:
        page = stub.ListRelationships(
            pb.ListRelationshipsRequest(owner_id="ana", page_size=3, page_token=token)
        )
        assert page.total_size == 7
        seen += [r.contact_id for r in page.relationships]
        token = page.next_page_token
        if not token:
            break
    assert seen == ["c6", "c5", "c4", "c3", "c2", "c1", "c0"]
    # First pages are kept with the network: each distinct query keeps its own.
    for size, expected in ((3, ["c6", "c5", "c4"]), (2, ["c6", "c5"]), (3, ["c6", "c5", "c4"])):
        again = stub.ListRelationships(pb.ListRelationshipsRequest(owner_id="ana", page_size=size))
        assert [r.contact_id for r in again.relationships] == expected
        assert again.next_page_token and again.total_size == 7
    weakest = stub.ListRelationships(
        pb.ListRelationshipsRequest(
            owner_id="ana", order=pb.SORT_ORDER_WEAKEST_FIRST, tiers=[events.TIER_ACQUAINTANCE]
        )
    )
    assert [r.contact_id for r in weakest.relationships] == ["c2", "c3"]
    assert weakest.total_size == 2
    strongest = stub.ListRelationships(
        pb.ListRelationshipsRequest(owner_id="ana", tiers=[events.TIER_ACQUAINTANCE])
    )
    assert [r.contact_id for r in strongest.relationships] == ["c3", "c2"]
    for bad, field in (
        (pb.ListRelationshipsRequest(owner_id="ana", page_size=5000), "page_size"),
        (pb.ListRelationshipsRequest(owner_id="ana", tiers=[42]), "tiers"),
        (pb.ListRelationshipsRequest(owner_id="ana", page_token="x"), "page_token"),
        (pb.ListRelationshipsRequest(), "owner_id"),
    ):
        code, details = status_of(lambda bad=bad: stub.ListRelationships(bad))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(field)
    code, _ = status_of(lambda: stub.ListRelationships(pb.ListRelationshipsRequest(owner_id="x")))
    assert code == grpc.StatusCode.NOT_FOUND


def test_summary_and_unimplemented_suggestions(
    stub: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    summary = stub.GetNetworkSummary(pb.GetNetworkSummaryRequest(owner_id="ana"))
    assert summary.total_contacts == 7
    assert sum(t.count for t in summary.tier_counts) == 7
    assert summary.funnel.engaged == 6  # c0 only received one message
    code, _ = status_of(lambda: stub.SuggestActions(pb.SuggestActionsRequest(owner_id="ana")))
    assert code == grpc.StatusCode.UNIMPLEMENTED
