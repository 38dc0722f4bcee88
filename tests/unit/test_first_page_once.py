"""Readers arriving together at a network that just changed rank and explain its first
page once: the others wait for that answer instead of computing it again."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from scoring_service.features.state import FloatArray
from scoring_service.servicer import ScoringServicer
from scoring_service.watch import WatchHub
from tests.harness import wait_until
from tests.unit.scoring_fakes import T0, FakeScorer, ana_seven_store, served
from vinculo.v1 import scoring_pb2 as pb


class HeldExplainer(FakeScorer):
    """Counts explanations; the first waits for `release`."""

    def __init__(self) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()

    def explain(
        self, states: FloatArray, as_of: float, context: FloatArray | None = None
    ) -> list[list[str]]:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(10)
        return super().explain(states, as_of, context)


def test_concurrent_first_pages_are_rendered_once(tmp_path: Path) -> None:
    store, scorer, hub = ana_seven_store(tmp_path / "s.db"), HeldExplainer(), WatchHub()
    servicer = ScoringServicer(store, scorer, hub, clock=lambda: T0 + 100)
    request = pb.ListRelationshipsRequest(owner_id="ana", page_size=3)
    try:
        with served(servicer) as stub:
            first = stub.ListRelationships.future(request)
            assert scorer.entered.wait(10)  # the first reader renders the page
            others = [stub.ListRelationships.future(request) for _ in range(4)]
            cache = servicer._reads.cache
            wait_until(lambda: cache.hits >= 4, 10, "the others' reads of the cached network")
            # They wait for the first one's page; none explains it again.
            with pytest.raises(AssertionError, match="timed out"):
                wait_until(lambda: scorer.calls > 1, 0.5, "a second rendering")
            scorer.release.set()
            pages = [call.result(timeout=10) for call in [first, *others]]
        assert scorer.calls == 1
        assert all(page == pages[0] for page in pages)
        assert [r.contact_id for r in pages[0].relationships] == ["c6", "c5", "c4"]
    finally:
        scorer.release.set()
        hub.close()
        store.close()
