"""Signals of a relationship and the figures of a network, on constructed states."""

from __future__ import annotations

import numpy as np
import pytest

from scoring_service.features.fold import apply_event
from scoring_service.features.state import FloatArray, new_state
from scoring_service.signals import network_figures, signals_for
from vinculo.domain import Interaction
from vinculo.v1 import events_pb2 as pb

T0 = 1_750_000_000.0
OUT, IN, MUTUAL = pb.DIRECTION_OUTBOUND, pb.DIRECTION_INBOUND, pb.DIRECTION_MUTUAL


def state_of(*events: tuple[int, int, bool]) -> FloatArray:
    """(type, direction, personalised) events one hour apart."""
    state = new_state()
    for i, (kind, direction, personalized) in enumerate(events):
        apply_event(state, Interaction(kind, direction, T0 + 3600 * i, personalized=personalized))
    return state


MSG, MEET, REACT = (
    pb.INTERACTION_TYPE_MESSAGE,
    pb.INTERACTION_TYPE_MEETING_IN_PERSON,
    pb.INTERACTION_TYPE_REACTION,
)
ACCEPTED = pb.INTERACTION_TYPE_CONNECTION_ACCEPTED


def test_signals_of_one_relationship() -> None:
    state = state_of((MSG, OUT, True), (MSG, OUT, False), (MSG, IN, False), (MEET, MUTUAL, False))
    signals = signals_for(state)
    # outbound 2 + 1 mutual = 3, inbound 1 + 1 mutual = 2
    assert signals.reciprocity == pytest.approx(2 / 3)
    assert signals.in_person_meetings == 1
    assert signals.first_interaction.seconds == int(T0)
    assert signals.last_interaction.seconds == int(T0 + 3 * 3600)
    counts = {c.kind: (c.outbound, c.inbound, c.mutual) for c in signals.counts}
    assert counts == {"message": (2, 1, 0), "meeting_in_person": (0, 0, 1)}
    assert (signals.outreach_sent, signals.outreach_answered) == (1, 1)
    assert not signals.connected


def test_network_figures() -> None:
    states = np.stack(
        [
            state_of(
                (ACCEPTED, OUT, False), (MSG, OUT, True), (MSG, IN, False), (MEET, MUTUAL, False)
            ),
            state_of((ACCEPTED, IN, False), (MSG, OUT, True)),  # one-sided, unanswered
            state_of((ACCEPTED, OUT, False), (REACT, IN, False)),  # a reaction is no exchange
            state_of((MSG, IN, False)),  # wrote to the owner, never connected
        ]
    )
    tiers = np.array([pb.TIER_CLOSE, pb.TIER_CONTACT, pb.TIER_CONTACT, pb.TIER_ACQUAINTANCE])
    figures = network_figures(states, tiers)
    assert figures.total_contacts == 4
    assert figures.tier_counts == {
        pb.TIER_CONTACT: 2,
        pb.TIER_ACQUAINTANCE: 1,
        pb.TIER_RELATIONSHIP: 0,
        pb.TIER_CLOSE: 1,
    }
    assert figures.relationship_share == 0.25
    assert figures.met_in_person_share == 0.25
    assert (figures.outreach_sent, figures.outreach_answered) == (2, 1)
    assert figures.outreach_reply_rate == 0.5
    assert (figures.connections, figures.engaged, figures.relationships, figures.met) == (
        3,
        1,
        1,
        1,
    )
    assert figures.one_sided_contacts == 2


def test_without_connection_events_every_contact_counts_as_a_connection() -> None:
    states = np.stack([state_of((MSG, OUT, False)), state_of((MSG, IN, False))])
    figures = network_figures(states, np.array([pb.TIER_CONTACT, pb.TIER_CONTACT]))
    assert figures.connections == 2
    assert figures.outreach_reply_rate == 0.0  # nothing sent: no division by zero


def test_a_video_call_counts_as_met_in_the_funnel_but_not_as_in_person() -> None:
    video, phone = pb.INTERACTION_TYPE_VIDEO_CALL, pb.INTERACTION_TYPE_CALL
    states = np.stack(
        [
            state_of((MSG, OUT, False), (video, MUTUAL, False)),
            state_of((MSG, OUT, False), (phone, MUTUAL, False)),
            state_of((MEET, MUTUAL, False)),
        ]
    )
    figures = network_figures(states, np.array([pb.TIER_RELATIONSHIP] * 3))
    assert figures.met == 2  # the video call and the meeting; a phone call is not meeting
    assert figures.met_in_person_share == pytest.approx(1 / 3)
