"""The interaction vocabulary shared by validation, state, features and tools.

The proto enums are the source of truth for types and directions; this module
adds what the wire format does not say: how intimate each type is. Intimacy
classes let a model trained on data with few event types (messages only, say)
still score the others sensibly, because features are counted per class, not
per type.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from vinculo.v1 import events_pb2 as pb
from vinculo.v1 import scoring_pb2

InteractionType = pb.InteractionType
Direction = pb.Direction
FeedbackLabel = pb.FeedbackLabel
Tier = pb.Tier


class Kind(IntEnum):
    """Intimacy classes, weakest first; services stand apart (Granovetter's
    'reciprocal services')."""

    REACTION = 0  # a reaction or mention: public, one click
    COMMENT = 1  # a public comment, or a message to a group
    MESSAGE = 2  # a private message or reply
    CALL = 3  # a phone or video call
    MEETING = 4  # met in person: the strongest signal in the posts
    SERVICE = 5  # endorsement, recommendation, introduction, collaboration


# Events per PublishEvents call or StreamEvents message (ingest.proto), for every client.
MAX_EVENTS_PER_CALL = 1000

TIER_NAMES: dict[int, str] = {
    pb.TIER_CONTACT: "contact",
    pb.TIER_ACQUAINTANCE: "acquaintance",
    pb.TIER_RELATIONSHIP: "relationship",
    pb.TIER_CLOSE: "close",
}
TREND_NAMES: dict[int, str] = {
    scoring_pb2.TREND_COOLING: "cooling",
    scoring_pb2.TREND_STEADY: "steady",
    scoring_pb2.TREND_STRENGTHENING: "strengthening",
}

KIND_NAMES: dict[Kind, str] = {
    Kind.REACTION: "reaction",
    Kind.COMMENT: "comment",
    Kind.MESSAGE: "message",
    Kind.CALL: "call",
    Kind.MEETING: "meeting_in_person",
    Kind.SERVICE: "service",
}

_KIND_OF_TYPE: dict[int, Kind] = {
    pb.INTERACTION_TYPE_REACTION: Kind.REACTION,
    pb.INTERACTION_TYPE_MENTION: Kind.REACTION,
    pb.INTERACTION_TYPE_COMMENT: Kind.COMMENT,
    pb.INTERACTION_TYPE_MESSAGE: Kind.MESSAGE,
    pb.INTERACTION_TYPE_REPLY: Kind.MESSAGE,
    pb.INTERACTION_TYPE_CALL: Kind.CALL,
    pb.INTERACTION_TYPE_VIDEO_CALL: Kind.CALL,
    pb.INTERACTION_TYPE_MEETING_IN_PERSON: Kind.MEETING,
    pb.INTERACTION_TYPE_ENDORSEMENT: Kind.SERVICE,
    pb.INTERACTION_TYPE_RECOMMENDATION: Kind.SERVICE,
    pb.INTERACTION_TYPE_INTRODUCTION: Kind.SERVICE,
    pb.INTERACTION_TYPE_COLLABORATION: Kind.SERVICE,
}

# A message seen by more people than the contact is a group message: it counts
# as a public comment, not as a private exchange.
PRIVATE_AUDIENCE_MAX = 1


def kind_of(interaction_type: int, audience_size: int = 0) -> Kind | None:
    """The intimacy class of an event type; None for connection and feedback events."""
    kind = _KIND_OF_TYPE.get(interaction_type)
    if kind is Kind.MESSAGE and audience_size > PRIVATE_AUDIENCE_MAX:
        return Kind.COMMENT
    return kind


def type_name(interaction_type: int) -> str:
    """'message' for INTERACTION_TYPE_MESSAGE, and so on."""
    name: str = pb.InteractionType.Name(interaction_type)
    return name.removeprefix("INTERACTION_TYPE_").lower()


def has_mirror(event: pb.InteractionEvent) -> bool:
    """Whether the event also belongs to the contact's network (decision 1 in
    docs/decisions/): not when only the owner is tracked, and never for feedback,
    which is the owner's private judgement."""
    return not event.owner_only and event.type != pb.INTERACTION_TYPE_FEEDBACK


def mirror_direction(direction: int) -> int:
    """The owner's outbound is the contact's inbound, and back; mutual stays mutual."""
    if direction == pb.DIRECTION_OUTBOUND:
        return pb.DIRECTION_INBOUND
    if direction == pb.DIRECTION_INBOUND:
        return pb.DIRECTION_OUTBOUND
    return direction


@dataclass(frozen=True, slots=True)
class Interaction:
    """One validated event, reduced to what relationship state needs.

    Times are unix seconds. `reply_to_time` is the time of the event named by
    `in_reply_to`, when the caller could resolve it.
    """

    type: int
    direction: int
    time: float
    personalized: bool = False
    duration_seconds: float = 0.0
    audience_size: int = 0
    feedback_label: int = 0
    reply_to_time: float | None = None

    @property
    def kind(self) -> Kind | None:
        return kind_of(self.type, self.audience_size)
