"""A past `as_of` through the real services: only events at or before it count.

Events at known times go through the ingest service's gRPC API to the broker and
the scoring service; reads as of an earlier instant must see the network as it
stood then (issue 16, point 1).
"""

from __future__ import annotations

import re

import grpc
import pytest

from tests.harness import ServiceProcess, wait_until
from tests.integration.scoring_helpers import interaction
from vinculo.v1 import events_pb2 as ev
from vinculo.v1 import ingest_pb2 as ingest_pb
from vinculo.v1 import ingest_pb2_grpc, scoring_pb2_grpc
from vinculo.v1 import scoring_pb2 as pb
from vinculo_apps.cli import main

pytestmark = pytest.mark.integration

DAY = 86_400
NOW = 1_780_000_000  # the newest event: "now" for this network
OWNER = "owner-past"


def _events() -> list[ev.InteractionEvent]:
    inbound = {"direction": ev.DIRECTION_INBOUND}
    meeting = {"type": ev.INTERACTION_TYPE_MEETING_IN_PERSON, "direction": ev.DIRECTION_MUTUAL}
    return [
        # old friend: two exchanges long ago, then a meeting and many messages lately
        interaction("a1", OWNER, "old", NOW - 400 * DAY),
        interaction("a2", OWNER, "old", NOW - 399 * DAY, **inbound),
        interaction("a3", OWNER, "old", NOW - 30 * DAY, **meeting),
        *(interaction(f"a{i}", OWNER, "old", NOW - i * DAY, **inbound) for i in range(4, 14)),
        # someone met only after the past instant
        interaction("b1", OWNER, "new", NOW - 100 * DAY, **meeting),
        interaction("b2", OWNER, "new", NOW, **inbound),
    ]


def _count(relationship: pb.Relationship) -> int:
    return sum(c.outbound + c.inbound + c.mutual for c in relationship.signals.counts)


def _publish(ingest: ServiceProcess, events: list[ev.InteractionEvent]) -> None:
    with grpc.insecure_channel(ingest.address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        reply = stub.PublishEvents(ingest_pb.PublishEventsRequest(events=events), timeout=30)
    assert all(r.status == ingest_pb.EVENT_STATUS_ACCEPTED for r in reply.results), reply


def test_a_past_as_of_counts_only_the_events_before_it(
    ingest: ServiceProcess, scoring: ServiceProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    events = _events()
    _publish(ingest, events)
    with grpc.insecure_channel(scoring.address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)

        def all_in() -> bool:
            try:
                reply = stub.ListRelationships(pb.ListRelationshipsRequest(owner_id=OWNER))
            except grpc.RpcError:
                return False
            return sum(_count(r) for r in reply.relationships) == len(events)

        wait_until(all_in, 60, "all events scored")
        past = pb.GetNetworkSummaryRequest(owner_id=OWNER)
        past.as_of.FromSeconds(NOW - 200 * DAY)

        summary = stub.GetNetworkSummary(past)
        assert summary.total_contacts == 1  # "new" was first seen after the instant
        assert summary.met_in_person_share == 0.0  # the meeting with "old" came later
        assert summary.funnel.connections == 1
        assert summary.funnel.engaged <= summary.funnel.connections

        listed = stub.ListRelationships(
            pb.ListRelationshipsRequest(owner_id=OWNER, page_size=10, as_of=past.as_of)
        )
        assert [r.contact_id for r in listed.relationships] == ["old"]
        assert listed.total_size == 1

        request = pb.GetRelationshipRequest(owner_id=OWNER, contact_id="old", as_of=past.as_of)
        old = stub.GetRelationship(request).relationship
        assert _count(old) == 2  # a1 and a2 only
        assert old.signals.last_interaction.seconds == NOW - 399 * DAY
        assert old.signals.in_person_meetings == 0
        now = stub.GetRelationship(pb.GetRelationshipRequest(owner_id=OWNER, contact_id="old"))
        assert now.relationship.score > old.score  # lately much closer than a year ago

        with pytest.raises(grpc.RpcError) as unknown_then:
            stub.GetRelationship(
                pb.GetRelationshipRequest(owner_id=OWNER, contact_id="new", as_of=past.as_of)
            )
        assert unknown_then.value.code() == grpc.StatusCode.NOT_FOUND

        suggested = stub.SuggestActions(pb.SuggestActionsRequest(owner_id=OWNER, as_of=past.as_of))
        assert {s.contact_id for s in suggested.suggestions} <= {"old"}

    # `vinculo report --as-of` reads the same past: one contact, nothing in the future
    capsys.readouterr()
    argv = ["report", "--owner", OWNER, "--scoring", scoring.address]
    assert main([*argv, "--as-of", str(NOW - 200 * DAY)]) == 0
    report = capsys.readouterr().out
    assert "1 contacts" in report, report
    assert not re.search(r"-\d+ days|in \d+ days", report), report
    shares = [float(x) for x in re.findall(r"(\d+(?:\.\d+)?)%", report)]
    assert shares and max(shares) <= 100.0, report
