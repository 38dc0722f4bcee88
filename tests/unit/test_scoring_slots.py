"""Reads score whole large networks one at a time (the consumer keeps a core); small
networks are scored without waiting for the slot a large one holds."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
import pytest
from prometheus_client import CollectorRegistry

from scoring_service.features.state import FloatArray
from scoring_service.servicer import ScoringServicer
from scoring_service.store import Batch, StateStore
from scoring_service.watch import WatchHub
from tests.harness import wait_until
from tests.unit.scoring_fakes import T0, FakeScorer, served, state_of
from vinculo.grpc_server import ServiceServer
from vinculo.v1 import scoring_pb2 as pb
from vinculo.v1 import scoring_pb2_grpc


class HeldLargeScorer(FakeScorer):
    """Holds the scoring of any network larger than 3 rows until `release`."""

    def __init__(self) -> None:
        self.large_entered = threading.Event()
        self.release = threading.Event()

    def owner_context(self, states: FloatArray, as_of: float) -> FloatArray:
        if len(states) > 3:
            self.large_entered.set()
            assert self.release.wait(10)
        return super().owner_context(states, as_of)


def test_a_small_owner_is_read_while_a_large_one_is_scored(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db", "vinculo.interactions.v1")
    batch = Batch()
    for i in range(8):
        batch.states[("big", f"c{i}")] = (0, state_of(i + 1))
    for i in range(3):
        batch.states[("small", f"c{i}")] = (0, state_of(i + 1))
    batch.offsets[0] = 11
    store.commit(batch)
    scorer, hub = HeldLargeScorer(), WatchHub()
    servicer = ScoringServicer(store, scorer, hub, clock=lambda: T0 + 100, unslotted_rows=3)
    server = ServiceServer(CollectorRegistry())
    server.add(
        scoring_pb2_grpc.add_ScoringServiceServicer_to_server, servicer, "vinculo.v1.ScoringService"
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{server.start('127.0.0.1', 0)}")
    stub = scoring_pb2_grpc.ScoringServiceStub(channel)
    try:
        large = stub.ListRelationships.future(pb.ListRelationshipsRequest(owner_id="big"))
        assert scorer.large_entered.wait(10)  # the large network holds the one slot
        small = stub.ListRelationships(pb.ListRelationshipsRequest(owner_id="small"), timeout=5)
        assert len(small.relationships) == 3
        assert not large.done()
        scorer.release.set()
        assert len(large.result(timeout=10).relationships) == 8
    finally:
        scorer.release.set()
        channel.close()
        hub.close()
        server.stop(0)
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
            batch.states[(owner, contact)] = (0, state_of(i + 1))
    batch.offsets[0] = 6
    store.commit(batch)
    scorer, hub = GatedScorer(), WatchHub()
    servicer = ScoringServicer(store, scorer, hub, clock=lambda: T0 + 100)
    try:
        with served(servicer) as stub:
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
        scorer.release.set()
        hub.close()
        store.close()
