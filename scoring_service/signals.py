"""What a person reads next to a score: signals of one relationship, figures of a network.

Everything here reads the state vectors' totals (`features.state`); none of
it depends on the model except the tiers passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from google.protobuf.timestamp_pb2 import Timestamp  # type: ignore[import-untyped]

from scoring_service.features.state import (
    N_KINDS,
    TOTALS_SIZE,
    TOTALS_START,
    FloatArray,
    S,
)
from vinculo.domain import KIND_NAMES, Kind
from vinculo.timestamps import timestamp
from vinculo.v1 import events_pb2 as events
from vinculo.v1 import scoring_pb2 as pb

OUT_COL, IN_COL, MUTUAL_COL = 0, 1, 2
# Writing, calling or meeting make an exchange; a reaction or an endorsement does not.
_EXCHANGE_KINDS = [int(Kind.COMMENT), int(Kind.MESSAGE), int(Kind.CALL), int(Kind.MEETING)]
_STRONG_TIERS = (events.TIER_RELATIONSHIP, events.TIER_CLOSE)
ALL_TIERS = (
    events.TIER_CONTACT,
    events.TIER_ACQUAINTANCE,
    events.TIER_RELATIONSHIP,
    events.TIER_CLOSE,
)


def totals(states: FloatArray) -> FloatArray:
    """Totals per relationship: shape (n, kinds, out/in/mutual)."""
    block = states[:, TOTALS_START : TOTALS_START + TOTALS_SIZE]
    return block.reshape(states.shape[0], N_KINDS, 3)


def _sides(tot: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per relationship and kind: what the owner did, what the contact did (mutual in both)."""
    return tot[..., OUT_COL] + tot[..., MUTUAL_COL], tot[..., IN_COL] + tot[..., MUTUAL_COL]


def _timestamp(seconds: float) -> Timestamp | None:
    if seconds <= 0.0:
        return None
    return timestamp(seconds)


def signals_for(state: FloatArray) -> pb.Signals:
    tot = totals(state[None, :])[0]
    out, inb = _sides(tot)
    out_all, in_all = float(out.sum()), float(inb.sum())
    high = max(out_all, in_all)
    signals = pb.Signals(
        reciprocity=min(out_all, in_all) / high if high > 0 else 0.0,
        in_person_meetings=int(tot[Kind.MEETING].sum()),
        outreach_sent=int(state[S["OUTREACH_SENT"]]),
        outreach_answered=int(state[S["OUTREACH_ANSWERED"]]),
        feedback_label=int(state[S["FEEDBACK_LABEL"]]),  # type: ignore[arg-type]
        connected=bool(state[S["CONNECTED"]] > 0),
    )
    for field, index in (("first_interaction", "FIRST_TIME"), ("last_interaction", "LAST_TIME")):
        stamp = _timestamp(float(state[S[index]]))
        if stamp is not None:
            getattr(signals, field).CopyFrom(stamp)
    for kind in Kind:
        row = tot[kind]
        if row.sum() > 0:
            signals.counts.add(
                kind=KIND_NAMES[kind],
                outbound=int(row[OUT_COL]),
                inbound=int(row[IN_COL]),
                mutual=int(row[MUTUAL_COL]),
            )
    return signals


@dataclass(frozen=True, slots=True)
class NetworkFigures:
    total_contacts: int
    tier_counts: dict[int, int]
    relationship_share: float
    met_in_person_share: float
    outreach_sent: int
    outreach_answered: int
    outreach_reply_rate: float
    connections: int
    engaged: int
    relationships: int
    met: int
    one_sided_contacts: int


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def network_figures(states: FloatArray, tiers: npt.NDArray[np.integer]) -> NetworkFigures:
    """Summary of one owner's network from all its states and their tiers."""
    n = int(states.shape[0])
    tot = totals(states)
    out, inb = _sides(tot[:, _EXCHANGE_KINDS, :])
    owner_wrote, contact_wrote = out.sum(axis=1) > 0, inb.sum(axis=1) > 0
    met_in_person = tot[:, Kind.MEETING, :].sum(axis=1) > 0
    # The funnel's last step is meeting in person or, where geography prevents
    # it, by video call (the posts' hangout or Skype); the share is in person only.
    met = met_in_person | (states[:, S["VIDEO_CALLS"]] > 0)
    strong = int(np.isin(tiers, _STRONG_TIERS).sum())
    sent = int(states[:, S["OUTREACH_SENT"]].sum())
    answered = int(states[:, S["OUTREACH_ANSWERED"]].sum())
    return NetworkFigures(
        total_contacts=n,
        tier_counts={tier: int((tiers == tier).sum()) for tier in ALL_TIERS},
        relationship_share=_share(strong, n),
        met_in_person_share=_share(int(met_in_person.sum()), n),
        outreach_sent=sent,
        outreach_answered=answered,
        outreach_reply_rate=_share(answered, sent),
        connections=_connections(states),
        engaged=int((owner_wrote & contact_wrote).sum()),
        relationships=strong,
        met=int(met.sum()),
        one_sided_contacts=int((owner_wrote ^ contact_wrote).sum()),
    )


def _connections(states: FloatArray) -> int:
    """Connected contacts; every contact when no connection event was ever received."""
    ever = (states[:, S["CONNECTED_TIME"]] > 0) | (states[:, S["REMOVED_TIME"]] > 0)
    if not ever.any():
        return int(states.shape[0])
    return int((states[:, S["CONNECTED"]] > 0).sum())


def summary_response(
    owner_id: str, figures: NetworkFigures, model_version: str
) -> pb.GetNetworkSummaryResponse:
    return pb.GetNetworkSummaryResponse(
        owner_id=owner_id,
        total_contacts=figures.total_contacts,
        tier_counts=[pb.TierCount(tier=t, count=c) for t, c in figures.tier_counts.items()],  # type: ignore[arg-type]
        relationship_share=figures.relationship_share,
        met_in_person_share=figures.met_in_person_share,
        outreach_reply_rate=figures.outreach_reply_rate,
        outreach_sent=figures.outreach_sent,
        outreach_answered=figures.outreach_answered,
        model_version=model_version,
        funnel=pb.Funnel(
            connections=figures.connections,
            engaged=figures.engaged,
            relationships=figures.relationships,
            met=figures.met,
        ),
        one_sided_contacts=figures.one_sided_contacts,
    )
