"""Scenario builders for the behavioural ("checklist") suite: one owner, a handful of
contacts, generated events. Each contact is a relationship state built by the one fold
the service uses (`fold.apply_events`)."""

from __future__ import annotations

import numpy as np

from scoring_service.features import fold
from scoring_service.features import state as st
from scoring_service.model.artifact import ScoringModel
from vinculo.domain import Interaction
from vinculo.v1 import events_pb2 as pb

DAY = 86_400.0
NOW = 1_750_000_000.0
OUT, IN, MUTUAL = pb.DIRECTION_OUTBOUND, pb.DIRECTION_INBOUND, pb.DIRECTION_MUTUAL

# The seeds' order of intimacy, strongest first (video and phone share a class).
INTIMACY_ORDER: tuple[tuple[str, int], ...] = (
    ("meeting", pb.INTERACTION_TYPE_MEETING_IN_PERSON),
    ("video call", pb.INTERACTION_TYPE_VIDEO_CALL),
    ("phone call", pb.INTERACTION_TYPE_CALL),
    ("private message", pb.INTERACTION_TYPE_MESSAGE),
    ("comment", pb.INTERACTION_TYPE_COMMENT),
    ("reaction", pb.INTERACTION_TYPE_REACTION),
)
_TIMED = {
    pb.INTERACTION_TYPE_MEETING_IN_PERSON,
    pb.INTERACTION_TYPE_VIDEO_CALL,
    pb.INTERACTION_TYPE_CALL,
}


def event(kind: int, direction: int, days_ago: float, minutes: float = 30.0) -> Interaction:
    """One personalised event `days_ago` before NOW; calls and meetings last `minutes`."""
    seconds = minutes * 60.0 if kind in _TIMED else 0.0
    return Interaction(
        kind, direction, NOW - days_ago * DAY, personalized=True, duration_seconds=seconds
    )


def contact(*events: Interaction) -> np.ndarray:
    """A relationship state holding `events`."""
    s = st.new_state()
    fold.apply_events(s, events)
    return s


def exchange(kind: int, n: int, every_days: float = 10.0, first: float = 3.0) -> np.ndarray:
    """`n` events of one kind, alternating inbound and outbound (reciprocated)."""
    return contact(*[event(kind, IN if i % 2 else OUT, first + every_days * i) for i in range(n)])


def scored(model: ScoringModel, *contacts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores and tiers of `contacts` as one owner's whole network."""
    states = np.stack(contacts)
    scores = model.score(states, NOW)
    return scores, model.tiers(scores, states)


def alone(model: ScoringModel, *contacts: np.ndarray) -> np.ndarray:
    """Each contact's score as the only relationship in its owner's network."""
    return np.array([scored(model, c)[0][0] for c in contacts])
