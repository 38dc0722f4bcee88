"""Small networks are scored without waiting for the slot a large one holds."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry

from scoring_service.features.state import FloatArray
from scoring_service.servicer import ScoringServicer
from scoring_service.store import Batch, StateStore
from scoring_service.watch import WatchHub
from tests.unit.test_scoring_servicer import T0, FakeScorer, _state
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
        batch.states[("big", f"c{i}")] = (0, _state(i + 1))
    for i in range(3):
        batch.states[("small", f"c{i}")] = (0, _state(i + 1))
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
