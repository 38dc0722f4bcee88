"""A tiny fake model and what the servicer's unit tests share: states, a served servicer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from scoring_service.features.fold import apply_event
from scoring_service.features.state import FloatArray, S, new_state
from scoring_service.servicer import ScoringServicer
from scoring_service.store import Batch, StateStore
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


def state_of(n_messages: int) -> FloatArray:
    state = new_state()
    for i in range(n_messages):
        direction = events.DIRECTION_OUTBOUND if i % 2 else events.DIRECTION_INBOUND
        apply_event(state, Interaction(events.INTERACTION_TYPE_MESSAGE, direction, T0 + i))
    return state


def ana_seven_store(path: Path) -> StateStore:
    """A store holding Ana's seven relationships, c0 with one message up to c6 with seven."""
    store = StateStore(path, "vinculo.interactions.v1")
    batch = Batch()
    for i, contact in enumerate(["c0", "c1", "c2", "c3", "c4", "c5", "c6"]):
        batch.states[("ana", contact)] = (0, state_of(i + 1))
    batch.offsets[0] = 7
    store.commit(batch)
    return store


def status_of(call: object) -> tuple[grpc.StatusCode, str]:
    """The status code and details of the RpcError that `call()` raises."""
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value.code(), info.value.details()


@contextmanager
def served(
    servicer: ScoringServicer, max_workers: int = 16
) -> Iterator[scoring_pb2_grpc.ScoringServiceStub]:
    """`servicer` behind a real gRPC server on a free port, and a stub to call it."""
    server = ServiceServer(CollectorRegistry(), max_workers=max_workers)
    server.add(
        scoring_pb2_grpc.add_ScoringServiceServicer_to_server, servicer, "vinculo.v1.ScoringService"
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{server.start('127.0.0.1', 0)}")
    try:
        yield scoring_pb2_grpc.ScoringServiceStub(channel)
    finally:
        channel.close()
        server.stop(0)


@dataclass(frozen=True)
class Record:
    """A consumed record as the processor and the consumer read it (kafka-python's
    ConsumerRecord has these fields too)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = 1_750_000_000_000  # Kafka's append time, ms
