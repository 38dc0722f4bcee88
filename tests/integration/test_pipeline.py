"""End to end: events in over the ingest gRPC API, rankings out of the scoring service."""

from __future__ import annotations

import grpc
import pytest

from tests.harness import ServiceProcess, wait_until
from tests.integration.scoring_helpers import T0, contacts_of, interaction
from vinculo.v1 import events_pb2 as ev
from vinculo.v1 import ingest_pb2, ingest_pb2_grpc, scoring_pb2_grpc
from vinculo.v1 import scoring_pb2 as pb

pytestmark = pytest.mark.integration


def test_published_events_are_ranked_in_both_networks(
    ingest: ServiceProcess, scoring: ServiceProcess
) -> None:
    events = [
        interaction("e1", "ana", "bea", T0, personalized=True),
        interaction(
            "e2",
            "ana",
            "bea",
            T0 + 900,
            type=ev.INTERACTION_TYPE_REPLY,
            direction=ev.DIRECTION_INBOUND,
            in_reply_to="e1",
        ),
        interaction(
            "e3",
            "ana",
            "bea",
            T0 + 86_400,
            type=ev.INTERACTION_TYPE_MEETING_IN_PERSON,
            direction=ev.DIRECTION_MUTUAL,
        ),
        interaction("e4", "ana", "cid", T0, owner_only=True),  # cid is not tracked
    ]
    with (
        grpc.insecure_channel(ingest.address) as ingest_channel,
        grpc.insecure_channel(scoring.address) as scoring_channel,
    ):
        publish = ingest_pb2_grpc.IngestServiceStub(ingest_channel).PublishEvents
        reply = publish(ingest_pb2.PublishEventsRequest(events=events), timeout=10)
        assert [r.status for r in reply.results] == [ingest_pb2.EVENT_STATUS_ACCEPTED] * 4
        stub = scoring_pb2_grpc.ScoringServiceStub(scoring_channel)
        ana = wait_until(
            lambda: (found := contacts_of(stub, "ana")) and len(found) == 2 and found,
            what="ana's two relationships",
        )
        bea = wait_until(lambda: contacts_of(stub, "bea"), what="bea's mirrored relationship")
    assert set(bea) == {"ana"}  # the owner-only event was not mirrored to cid
    assert ana["bea"].score > ana["cid"].score
    # Mirrored: ana's outreach is bea's inbound message, bea's reply ana's inbound one.
    assert ana["bea"].signals.outreach_answered == 1
    counts = {c.kind: (c.outbound, c.inbound, c.mutual) for c in bea["ana"].signals.counts}
    assert counts["message"] == (1, 1, 0) and counts["meeting_in_person"] == (0, 0, 1)
    summary_request = pb.GetNetworkSummaryRequest(owner_id="ana")
    with grpc.insecure_channel(scoring.address) as channel:
        summary = scoring_pb2_grpc.ScoringServiceStub(channel).GetNetworkSummary(summary_request)
    assert summary.total_contacts == 2 and summary.met_in_person_share == 0.5
