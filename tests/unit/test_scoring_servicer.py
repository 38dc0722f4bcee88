"""The gRPC API over a real in-process server, with a tiny fake model."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from scoring_service.features.fold import apply_event
from scoring_service.features.state import FloatArray, S, new_state
from scoring_service.scored_network import network_cache
from scoring_service.servicer import ScoringServicer
from scoring_service.store import Batch, StateStore
from scoring_service.watch import OwnerChanges, WatchHub
from tests.harness import wait_until
from vinculo.domain import Interaction
from vinculo.grpc_server import ServiceServer
from vinculo.v1 import events_pb2 as events
from vinculo.v1 import scoring_pb2 as pb
from vinculo.v1 import scoring_pb2_grpc

T0 = 1_750_000_000.0


class FakeScorer:
    """Score = event count / 10, capped; tiers by score quartile."""

    version = "fake-1"
    feature_schema_version = 1
    serving_horizon_days = None

    def owner_context(self, states: FloatArray, as_of: float) -> FloatArray:
        return np.zeros((len(states), 1))

    def score(
        self, states: FloatArray, as_of: float, context: FloatArray | None = None
    ) -> FloatArray:
        return np.minimum(states[:, S["EVENT_COUNT"]] / 10.0, 1.0)

    def tiers(self, scores: FloatArray, states: FloatArray) -> np.ndarray:
        return np.minimum((scores * 4).astype(np.int64) + 1, events.TIER_CLOSE)

    def explain(
        self, states: FloatArray, as_of: float, context: FloatArray | None = None
    ) -> list[list[str]]:
        return [[f"{int(n)} events"] for n in states[:, S["EVENT_COUNT"]]]

    def trend(self, states: FloatArray, as_of: float) -> np.ndarray:
        return np.full(states.shape[0], pb.TREND_STRENGTHENING, dtype=np.int64)


class OwnerRelativeScorer(FakeScorer):
    """Score = this relationship's share of the owner's events: it reads the whole network."""

    def owner_context(self, states: FloatArray, as_of: float) -> FloatArray:
        return np.full((len(states), 1), states[:, S["EVENT_COUNT"]].sum())

    def score(
        self, states: FloatArray, as_of: float, context: FloatArray | None = None
    ) -> FloatArray:
        if context is None:
            context = self.owner_context(states, as_of)
        return np.asarray(states[:, S["EVENT_COUNT"]] / context[:, 0])


def _state(n_messages: int) -> FloatArray:
    state = new_state()
    for i in range(n_messages):
        direction = events.DIRECTION_OUTBOUND if i % 2 else events.DIRECTION_INBOUND
        apply_event(state, Interaction(events.INTERACTION_TYPE_MESSAGE, direction, T0 + i))
    return state


@pytest.fixture
def env(
    tmp_path: Path,
) -> Iterator[tuple[scoring_pb2_grpc.ScoringServiceStub, StateStore, WatchHub]]:
    store = StateStore(tmp_path / "s.db", "vinculo.interactions.v1")
    batch = Batch()
    for i, contact in enumerate(["c0", "c1", "c2", "c3", "c4", "c5", "c6"]):
        batch.states[("ana", contact)] = (0, _state(i + 1))
    batch.offsets[0] = 7
    store.commit(batch)
    hub = WatchHub()
    server = ServiceServer(CollectorRegistry())
    servicer = ScoringServicer(store, FakeScorer(), hub, clock=lambda: T0 + 100)
    server.add(
        scoring_pb2_grpc.add_ScoringServiceServicer_to_server, servicer, "vinculo.v1.ScoringService"
    )
    port = server.start("127.0.0.1", 0)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield scoring_pb2_grpc.ScoringServiceStub(channel), store, hub
    finally:
        channel.close()
        hub.close()
        server.stop(0)
        store.close()


def _code(call: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value.code(), info.value.details()


def test_get_relationship(
    env: tuple[scoring_pb2_grpc.ScoringServiceStub, StateStore, WatchHub],
) -> None:
    stub, _, _ = env
    reply = stub.GetRelationship(pb.GetRelationshipRequest(owner_id="ana", contact_id="c4"))
    rel = reply.relationship
    assert (rel.contact_id, rel.score, rel.tier) == ("c4", 0.5, events.TIER_RELATIONSHIP)
    assert rel.explanation == ["5 events"] and rel.trend == pb.TREND_STRENGTHENING
    assert rel.signals.counts[0].kind == "message" and reply.model_version == "fake-1"
    code, details = _code(lambda: stub.GetRelationship(pb.GetRelationshipRequest(owner_id="ana")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("contact_id")
    code, details = _code(
        lambda: stub.GetRelationship(pb.GetRelationshipRequest(owner_id="ana", contact_id="zz"))
    )
    assert code == grpc.StatusCode.NOT_FOUND and details.startswith("contact_id")
    code, details = _code(
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
        batch.states[("ana", contact)] = (0, _state(i + 1))
    batch.offsets[0] = 4
    store.commit(batch)
    hub = WatchHub()
    scorer = OwnerRelativeScorer()
    server = ServiceServer(CollectorRegistry())
    servicer = ScoringServicer(
        store, scorer, hub, clock=lambda: T0 + 100, cache=network_cache(cache_owners)
    )
    server.add(
        scoring_pb2_grpc.add_ScoringServiceServicer_to_server, servicer, "vinculo.v1.ScoringService"
    )
    port = server.start("127.0.0.1", 0)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
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
        change.states[("ana", "c0")] = (0, _state(6))
        change.offsets[0] = 5
        store.commit(change)
        changes = OwnerChanges("ana", ["c0"], [change.before[("ana", "c0")]], [_state(6)], T0 + 50)
        (watched,) = servicer._watch_responses(changes, 0.01)
        # the owner's other streams with the same threshold get the same message objects
        assert servicer._watch_responses(changes, 0.01)[0] is watched
        # moved by 0.3 only, but into another tier: reported whatever the threshold
        assert watched.tier != watched.previous_tier
        assert servicer._watch_responses(changes, 0.9) == (watched,)
        assert watched.previous_score == pytest.approx(1 / 10)
        assert watched.score == pytest.approx(6 / 15)
        listed = stub.ListRelationships(pb.ListRelationshipsRequest(owner_id="ana"))
        assert {r.contact_id: r.score for r in listed.relationships}["c0"] == watched.score
    finally:
        channel.close()
        hub.close()
        server.stop(0)
        store.close()


def test_list_pages_through_the_ranking(
    env: tuple[scoring_pb2_grpc.ScoringServiceStub, StateStore, WatchHub],
) -> None:
    stub, _, _ = env
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
        code, details = _code(lambda bad=bad: stub.ListRelationships(bad))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(field)
    code, _ = _code(lambda: stub.ListRelationships(pb.ListRelationshipsRequest(owner_id="x")))
    assert code == grpc.StatusCode.NOT_FOUND


def test_summary_and_unimplemented_suggestions(
    env: tuple[scoring_pb2_grpc.ScoringServiceStub, StateStore, WatchHub],
) -> None:
    stub, _, _ = env
    summary = stub.GetNetworkSummary(pb.GetNetworkSummaryRequest(owner_id="ana"))
    assert summary.total_contacts == 7
    assert sum(t.count for t in summary.tier_counts) == 7
    assert summary.funnel.engaged == 6  # c0 only received one message
    code, _ = _code(lambda: stub.SuggestActions(pb.SuggestActionsRequest(owner_id="ana")))
    assert code == grpc.StatusCode.UNIMPLEMENTED


def test_watch_reports_committed_changes(
    env: tuple[scoring_pb2_grpc.ScoringServiceStub, StateStore, WatchHub],
) -> None:
    stub, store, hub = env
    stream = stub.WatchRelationships(pb.WatchRelationshipsRequest(owner_id="ana"), timeout=10)
    received: list[pb.WatchRelationshipsResponse] = []
    reader = threading.Thread(target=lambda: received.extend([next(stream), next(stream)]))
    reader.start()
    wait_until(lambda: hub.open_streams == 1, timeout_s=5, what="the subscription")
    batch = Batch()
    before = store.load_state("ana", "c0")
    batch.before[("ana", "c0")] = before
    batch.states[("ana", "c0")] = (0, _state(9))
    batch.before[("ana", "new")] = None
    batch.states[("ana", "new")] = (0, _state(1))
    batch.states[("bob", "x")] = (0, _state(1))  # someone else's: not reported
    hub.publish(batch, T0 + 50)
    reader.join(10)
    stream.cancel()
    by_contact = {r.contact_id: r for r in received}
    assert by_contact["c0"].previous_score == 0.1 and by_contact["c0"].score == 0.9
    assert by_contact["new"].previous_tier == events.TIER_UNSPECIFIED
    assert by_contact["c0"].changed_at.seconds == int(T0 + 50)


def test_watch_streams_beyond_the_cap_are_refused(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db", "vinculo.interactions.v1")
    hub = WatchHub(max_watchers=1)
    server = ServiceServer(CollectorRegistry(), max_workers=4)
    servicer = ScoringServicer(store, FakeScorer(), hub, clock=lambda: T0)
    server.add(
        scoring_pb2_grpc.add_ScoringServiceServicer_to_server, servicer, "vinculo.v1.ScoringService"
    )
    port = server.start("127.0.0.1", 0)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        first = stub.WatchRelationships(pb.WatchRelationshipsRequest(owner_id="ana"), timeout=10)
        wait_until(lambda: hub.open_streams == 1, timeout_s=5, what="the subscription")
        second = stub.WatchRelationships(pb.WatchRelationshipsRequest(owner_id="bob"), timeout=10)
        code, details = _code(lambda: next(second))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "1 watch streams" in details
        first.cancel()
    finally:
        channel.close()
        hub.close()
        server.stop(0)
        store.close()


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
        batch.states[("ana", contact)] = (0, _state(i + 1))
    batch.states[("bo", "c0")] = (0, _state(1))
    batch.offsets[0] = 4
    store.commit(batch)
    scorer = CountingScorer()
    hub = WatchHub()
    server = ServiceServer(CollectorRegistry())
    servicer = ScoringServicer(store, scorer, hub, clock=lambda: T0 + 100)
    server.add(
        scoring_pb2_grpc.add_ScoringServiceServicer_to_server, servicer, "vinculo.v1.ScoringService"
    )
    port = server.start("127.0.0.1", 0)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)

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
        other.states[("bo", "c0")] = (0, _state(2))
        other.offsets[0] = 5
        store.commit(other)
        top()
        assert scorer.calls == 1  # bo's commit leaves ana's entry
        change = Batch()
        change.states[("ana", "c0")] = (0, _state(9))
        change.offsets[0] = 6
        store.commit(change)
        assert get("c0") == pytest.approx(0.9)  # the very next read sees the commit
        assert top()[0] == ("c0", pytest.approx(0.9))
        assert scorer.calls == 2
        # the summary is kept with the scored network: a new contact shows at once
        summary = pb.GetNetworkSummaryRequest(owner_id="ana")
        assert stub.GetNetworkSummary(summary).total_contacts == 3
        added = Batch()
        added.states[("ana", "c9")] = (0, _state(1))
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
        channel.close()
        hub.close()
        server.stop(0)
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
        first.states[("ana", contact)] = (0, _state(i + 1))
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
        change.states[("ana", "d")] = (0, _state(9))
        change.states[("ana", "a")] = (0, _state(4))
        change.states[("ana", "e")] = (0, _state(2))
        change.offsets[0] = 6
        store.commit(change)
        after = _ranking(cached, "ana")
        assert reads == []  # scored from the carried-forward states
        assert after == _ranking(uncached, "ana")  # exactly what the store now holds
        assert [contact for contact, _ in after] == ["d", "a", "f", "e", "b"]
    finally:
        store.close()


class GatedScorer(FakeScorer):
    """Counts the networks being scored at once; the first waits for `release`."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    def owner_context(self, states: FloatArray, as_of: float) -> FloatArray:
        with self._lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        self.entered.set()
        self.release.wait(10)
        with self._lock:
            self.inside -= 1
        return super().owner_context(states, as_of)


def test_reads_score_whole_networks_one_at_a_time(tmp_path: Path) -> None:
    """Two owners' networks are not scored at once by reads (the consumer keeps a core)."""
    store = StateStore(tmp_path / "s.db", "vinculo.interactions.v1")
    batch = Batch()
    for owner in ("ana", "bea"):
        for i, contact in enumerate(["c0", "c1", "c2"]):
            batch.states[(owner, contact)] = (0, _state(i + 1))
    batch.offsets[0] = 6
    store.commit(batch)
    scorer, hub = GatedScorer(), WatchHub()
    servicer = ScoringServicer(store, scorer, hub, clock=lambda: T0 + 100)
    server = ServiceServer(CollectorRegistry())
    server.add(
        scoring_pb2_grpc.add_ScoringServiceServicer_to_server, servicer, "vinculo.v1.ScoringService"
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{server.start('127.0.0.1', 0)}")
    stub = scoring_pb2_grpc.ScoringServiceStub(channel)
    try:
        calls = [
            stub.ListRelationships.future(pb.ListRelationshipsRequest(owner_id=o, page_size=3))
            for o in ("ana", "bea")
        ]
        assert scorer.entered.wait(10)
        # The second owner's scoring must not start while the first one's runs.
        with pytest.raises(AssertionError, match="timed out"):
            wait_until(lambda: scorer.inside > 1, 0.5, "a second network scored at once")
        scorer.release.set()
        assert [len(c.result(timeout=10).relationships) for c in calls] == [3, 3]
        assert scorer.most == 1
    finally:
        channel.close()
        hub.close()
        server.stop(0)
        store.close()
