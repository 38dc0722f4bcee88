"""WatchRelationships over a real in-process server: committed changes arrive on the
stream, and streams beyond the cap are refused."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc

from scoring_service.servicer import ScoringServicer
from scoring_service.store import Batch, StateStore
from scoring_service.watch import WatchHub
from tests.harness import wait_until
from tests.unit.scoring_fakes import (
    T0,
    FakeScorer,
    ana_seven_store,
    served,
    state_of,
    status_of,
)
from vinculo.v1 import events_pb2 as events
from vinculo.v1 import scoring_pb2 as pb


def test_watch_reports_committed_changes(tmp_path: Path) -> None:
    store = ana_seven_store(tmp_path / "s.db")
    hub = WatchHub()
    servicer = ScoringServicer(store, FakeScorer(), hub, clock=lambda: T0 + 100)
    try:
        with served(servicer) as stub:
            request = pb.WatchRelationshipsRequest(owner_id="ana")
            stream = stub.WatchRelationships(request, timeout=10)
            received: list[pb.WatchRelationshipsResponse] = []
            reader = threading.Thread(target=lambda: received.extend([next(stream), next(stream)]))
            reader.start()
            wait_until(lambda: hub.open_streams == 1, timeout_s=5, what="the subscription")
            batch = Batch()
            before = store.load_state("ana", "c0")
            batch.before[("ana", "c0")] = before
            batch.states[("ana", "c0")] = (0, state_of(9))
            batch.before[("ana", "new")] = None
            batch.states[("ana", "new")] = (0, state_of(1))
            batch.states[("bob", "x")] = (0, state_of(1))  # someone else's: not reported
            hub.publish(batch, T0 + 50)
            reader.join(10)
            stream.cancel()
    finally:
        hub.close()
        store.close()
    by_contact = {r.contact_id: r for r in received}
    assert by_contact["c0"].previous_score == 0.1 and by_contact["c0"].score == 0.9
    assert by_contact["new"].previous_tier == events.TIER_UNSPECIFIED
    assert by_contact["c0"].changed_at.seconds == int(T0 + 50)


def test_watch_streams_beyond_the_cap_are_refused(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db", "vinculo.interactions.v1")
    hub = WatchHub(max_watchers=1)
    servicer = ScoringServicer(store, FakeScorer(), hub, clock=lambda: T0)
    try:
        with served(servicer, max_workers=4) as stub:
            first = stub.WatchRelationships(
                pb.WatchRelationshipsRequest(owner_id="ana"), timeout=10
            )
            wait_until(lambda: hub.open_streams == 1, timeout_s=5, what="the subscription")
            second = stub.WatchRelationships(
                pb.WatchRelationshipsRequest(owner_id="bob"), timeout=10
            )
            code, details = status_of(lambda: next(second))
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "1 watch streams" in details
            first.cancel()
    finally:
        hub.close()
        store.close()
