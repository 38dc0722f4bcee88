"""People have names: through the real services, from the gRPC API and from an event file."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from tests.harness import ServiceProcess, wait_until
from tests.integration.scoring_helpers import interaction
from tests.integration.test_as_of import NOW, _publish
from vinculo.v1 import events_pb2 as ev
from vinculo.v1 import scoring_pb2 as pb
from vinculo.v1 import scoring_pb2_grpc
from vinculo_apps.cli import main

pytestmark = pytest.mark.integration
DAY = 86_400

CSV = (
    "event_id,owner_id,contact_id,type,direction,occurred_at,contact_name,contact_company\n"
    "f1,nora,c-file,message,inbound,2026-05-01T09:00:00Z,Zoë Ángel,Río SL\n"
)


def test_names_from_the_api_and_a_file_are_served(
    ingest: ServiceProcess, scoring: ServiceProcess, tmp_path: Path
) -> None:
    older = interaction("n1", "nora", "c-api", NOW - 10 * DAY, contact_name="Ana Old")
    older.contact_company = "Old Co"
    newer = interaction("n2", "nora", "c-api", NOW - DAY, direction=ev.DIRECTION_INBOUND)
    newer.contact_name, newer.contact_position = "Ana López", "CTO"
    silent = interaction("n3", "nora", "c-none", NOW - DAY)
    _publish(ingest, [newer, older, silent])  # out of order: the newest still wins
    events_file = tmp_path / "events.csv"
    events_file.write_text(CSV, encoding="utf-8")
    assert main(["import", "events", str(events_file), "--ingest", ingest.address]) == 0

    with grpc.insecure_channel(scoring.address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)

        def listed() -> dict[str, pb.Relationship] | None:
            try:
                page = stub.ListRelationships(pb.ListRelationshipsRequest(owner_id="nora"))
            except grpc.RpcError:
                return None
            found = {r.contact_id: r for r in page.relationships}
            return found if len(found) == 3 else None

        found = wait_until(listed, 60, "three contacts of nora")
        ana = found["c-api"]
        assert (ana.contact_name, ana.contact_company, ana.contact_position) == (
            "Ana López",
            "Old Co",  # only the older event named a company
            "CTO",
        )
        assert (found["c-file"].contact_name, found["c-file"].contact_company) == (
            "Zoë Ángel",
            "Río SL",
        )
        assert found["c-none"].contact_name == ""
        one = stub.GetRelationship(pb.GetRelationshipRequest(owner_id="nora", contact_id="c-api"))
        assert one.relationship.contact_name == "Ana López"
        request = pb.SuggestActionsRequest(owner_id="nora", kinds=[pb.ACTION_KIND_REPLY])
        request.as_of.FromSeconds(NOW + 2 * DAY)  # both wrote to nora and wait for an answer
        suggested = stub.SuggestActions(request)
        names = {s.contact_id: s.contact_name for s in suggested.suggestions}
        assert names == {"c-api": "Ana López", "c-file": "Zoë Ángel"}, suggested
