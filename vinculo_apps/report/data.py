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
    # contact id -> how a person reads it (namesakes told apart); built from relationships.
    labels: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.labels = contact_labels(self.relationships)

    def who(self, item: pb.Relationship | pb.Suggestion) -> str:
        """The contact's name, told apart from namesakes in this network; else the id."""
        return self.labels.get(item.contact_id) or who(item)

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


def contact_labels(relationships: list[pb.Relationship]) -> dict[str, str]:
    """Each contact's name; two contacts with one name get their role, else their id, added.

    Two "John Smith"s are different people (an export tells them apart by profile URL),
    so a report must not show them as one name twice.
    """
    by_name: dict[str, list[pb.Relationship]] = {}
    for relationship in relationships:
        by_name.setdefault(who(relationship), []).append(relationship)
    labels: dict[str, str] = {}
    for name, namesakes in by_name.items():
        roles = [role(r) for r in namesakes]
        distinct_roles = len(namesakes) > 1 and all(roles) and len(set(roles)) == len(roles)
        for relationship, known_role in zip(namesakes, roles, strict=True):
            if len(namesakes) == 1:
                labels[relationship.contact_id] = name
            elif distinct_roles:
                labels[relationship.contact_id] = f"{name} ({known_role})"
            else:
                labels[relationship.contact_id] = f"{name} ({relationship.contact_id})"
    return labels


def role(relationship: pb.Relationship) -> str:
    """'Position, Company' where known, else ''."""
    parts = (relationship.contact_position, relationship.contact_company)
    return ", ".join(part for part in parts if part)
