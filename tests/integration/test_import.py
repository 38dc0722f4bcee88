"""The synthetic LinkedIn export through the real ingest and scoring services.

Asserts the counts, that a re-import is all duplicates (at the ingest service,
and after its restart at the scoring service) and leaves the scoring state
unchanged, and prints the import speed for 500 connections and ~5,000
messages (a quarter of the generator's default: the counts and duplicates are
the same checks at any size, and the test is the suite's longest otherwise).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import grpc
import pytest

from tests.generators.synthetic_linkedin import DEFAULT_END, build_export
from tests.harness import ServiceProcess, wait_until
from vinculo.v1 import scoring_pb2, scoring_pb2_grpc
from vinculo_apps.cli import main
from vinculo_apps.importers.linkedin import LinkedInExport

pytestmark = pytest.mark.integration
OWNER = "marta"


def ranking(address: str) -> dict[str, float]:
    """Every relationship's score at a fixed instant, over all pages."""
    scores: dict[str, float] = {}
    with grpc.insecure_channel(address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)  # type: ignore[no-untyped-call]
        token = ""
        while True:
            request = scoring_pb2.ListRelationshipsRequest(
                owner_id=OWNER, page_size=1000, page_token=token
            )
            request.as_of.FromSeconds(int(DEFAULT_END))
            try:
                page = stub.ListRelationships(request, timeout=30)
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return {}
                raise
            scores.update({r.contact_id: r.score for r in page.relationships})
            token = page.next_page_token
            if not token:
                return scores


def wait_applied(scoring: ServiceProcess, records: int) -> None:
    """Until `records` records are durable in the scoring state (what gRPC reads)."""

    def applied() -> bool:
        return scoring.metric("vinculo_scoring_events_committed_total") >= records

    wait_until(applied, timeout_s=120, what=f"{records} records committed")


def test_linkedin_export_imports_once(
    ingest: ServiceProcess,
    scoring: ServiceProcess,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    export = tmp_path / "export.zip"
    build_export(export, n_connections=500, n_messages=5000)
    reader = LinkedInExport(export, OWNER)
    events = list(reader.events())
    contacts = len({e.contact_id for e in events})
    argv = ["import", "linkedin", str(export), "--owner", OWNER, "--ingest", ingest.address]

    started = time.monotonic()
    assert main(argv) == 0
    seconds = time.monotonic() - started
    first = capsys.readouterr().out
    assert f"{len(events)} accepted" in first and "0 duplicate" in first, first
    wait_applied(scoring, len(events))  # owner-only events: one record each
    before = ranking(scoring.address)
    assert len(before) == contacts

    assert main(argv) == 0  # the ingest service remembers the ids: nothing is republished
    second = capsys.readouterr().out
    assert f"0 accepted, {len(events)} duplicate" in second, second

    ingest.stop()  # a restarted ingest service reads the ids back from its outbox
    ingest.start()
    assert main(argv) == 0
    restarted = capsys.readouterr().out
    assert f"0 accepted, {len(events)} duplicate" in restarted, restarted

    ingest.stop()  # an ingest service that never saw them (another replica, a lost disk):
    shutil.rmtree(ingest.data_dir / "ingest")  # the records reach Kafka again, and the
    ingest.start()  # scoring service must ignore them by event id
    assert main(argv) == 0
    third = capsys.readouterr().out
    assert f"{len(events)} accepted" in third, third
    wait_applied(scoring, 2 * len(events))
    assert scoring.metric("vinculo_scoring_events_duplicate_total") == len(events)
    assert ranking(scoring.address) == before
    with capsys.disabled():
        print(
            f"\nimport of {len(events)} events ({reader.per_file['Connections.csv']} connections,"
            f" {reader.per_file['messages.csv']} messages): {seconds:.1f} s,"
            f" {len(events) / seconds:,.0f} events/s"
        )
