"""What a report shows, and fetching it from the scoring service."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import grpc

from vinculo.security.channel import PLAINTEXT, ClientSecurity, open_channel
from vinculo.timestamps import set_seconds
from vinculo.v1 import scoring_pb2 as pb
from vinculo.v1 import scoring_pb2_grpc

PAGE_SIZE = 1000
TIMEOUT_S = 30.0
ACTION_NAMES = {
    pb.ACTION_KIND_REPLY: "Reply",
    pb.ACTION_KIND_NURTURE: "Nurture",
    pb.ACTION_KIND_MEET_IN_PERSON: "Meet in person",
    pb.ACTION_KIND_RECONNECT: "Reconnect",
    pb.ACTION_KIND_PRUNE: "Prune",
}


@dataclass
class ReportData:
    owner_id: str
    as_of: float
    relationships: list[pb.Relationship]  # strongest first
    summary: pb.GetNetworkSummaryResponse
    suggestions: list[pb.Suggestion] = field(default_factory=list)
    # Why there are no suggestions, when the service could not give them.
    suggestions_note: str = ""

    @property
    def model_version(self) -> str:
        return self.summary.model_version

    def reply_rate(self) -> float | None:
        """Share of the owner's personalised outreach answered; None when none was sent."""
        sent = self.summary.outreach_sent
        return self.summary.outreach_answered / sent if sent else None


def fetch(
    address: str,
    owner_id: str,
    as_of: float | None = None,
    security: ClientSecurity = PLAINTEXT,
) -> ReportData:
    """Every page of the ranking, the summary and the suggestions, at one instant."""
    instant = time.time() if as_of is None else as_of
    with open_channel(address, security) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)  # type: ignore[no-untyped-call]
        summary_request = pb.GetNetworkSummaryRequest(owner_id=owner_id)
        set_seconds(summary_request.as_of, instant)
        summary = stub.GetNetworkSummary(summary_request, timeout=TIMEOUT_S)
        relationships = _all_relationships(stub, owner_id, instant)
        suggestions, note = _suggestions(stub, owner_id, instant)
    return ReportData(owner_id, instant, relationships, summary, suggestions, note)


def _all_relationships(
    stub: scoring_pb2_grpc.ScoringServiceStub, owner_id: str, as_of: float
) -> list[pb.Relationship]:
    out: list[pb.Relationship] = []
    token = ""
    while True:
        request = pb.ListRelationshipsRequest(
            owner_id=owner_id,
            page_size=PAGE_SIZE,
            page_token=token,
            order=pb.SORT_ORDER_STRONGEST_FIRST,
        )
        set_seconds(request.as_of, as_of)
        page = stub.ListRelationships(request, timeout=TIMEOUT_S)
        out.extend(page.relationships)
        token = page.next_page_token
        if not token:
            return out


def _suggestions(
    stub: scoring_pb2_grpc.ScoringServiceStub, owner_id: str, as_of: float
) -> tuple[list[pb.Suggestion], str]:
    request = pb.SuggestActionsRequest(owner_id=owner_id, limit_per_kind=10)
    set_seconds(request.as_of, as_of)
    try:
        response = stub.SuggestActions(request, timeout=TIMEOUT_S)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
            raise
        return [], "this scoring service does not offer suggestions yet"
    return list(response.suggestions), ""


def who(item: pb.Relationship | pb.Suggestion) -> str:
    """The contact as a person reads them: their name when the service knows it, else the id."""
    return item.contact_name or item.contact_id


def role(relationship: pb.Relationship) -> str:
    """'Position, Company' where known, else ''."""
    parts = (relationship.contact_position, relationship.contact_company)
    return ", ".join(part for part in parts if part)
