"""Mirrored copies' ids in the scoring service: no collision, and replies still resolve."""

from __future__ import annotations

import math

import pytest

from scoring_service.features.state import S
from scoring_service.processor import BatchProcessor
from scoring_service.store import StateStore
from tests.unit.test_scoring_processor import T0, event, records, store  # noqa: F401
from vinculo.v1 import events_pb2 as pb
from vinculo.validation import mirrored


def copy_of(original: pb.InteractionEvent) -> pb.InteractionEvent:
    copy = mirrored(original)
    assert copy is not None
    return copy


def test_an_own_event_and_a_copy_with_the_same_original_id_are_both_applied(
    store: StateStore,  # noqa: F811
) -> None:
    processor = BatchProcessor(store, clock=lambda: T0 + 10_000)
    bo_message = event("x-9", T0, owner_id="bo", contact_id="ana")
    ana_meeting = event(
        "x-9", T0 + 60, type=pb.INTERACTION_TYPE_MEETING_IN_PERSON, direction=pb.DIRECTION_MUTUAL
    )
    processor.process(records(copy_of(bo_message), ana_meeting))
    store.commit(processor.take_batch())
    state = store.relationship_state("ana", "bo")
    assert state is not None
    assert state[S["LAST_TIME"]] == pytest.approx(T0 + 60)  # the meeting was applied


def test_a_reply_to_the_contacts_message_resolves_through_the_copy(
    store: StateStore,  # noqa: F811
) -> None:
    processor = BatchProcessor(store, clock=lambda: T0 + 10_000)
    # bo recorded ana's message to him as his m1; ana's network holds it as the copy ~bo/m1.
    bo_received = event("m1", T0, owner_id="bo", contact_id="ana", direction=pb.DIRECTION_INBOUND)
    processor.process(records(copy_of(bo_received)))
    store.commit(processor.take_batch())
    # bo's answer, recorded by ana, names the message by bo's id.
    reply = event(
        "r1",
        T0 + 3600,
        type=pb.INTERACTION_TYPE_REPLY,
        direction=pb.DIRECTION_INBOUND,
        in_reply_to="m1",
    )
    processor.process(records(reply, start=1))
    store.commit(processor.take_batch())
    state = store.relationship_state("ana", "bo")
    assert state is not None
    assert state[S["RESPONSE_COUNT"]] == 1.0
    assert state[S["RESPONSE_LOG_SUM"]] == pytest.approx(math.log1p(3600))
