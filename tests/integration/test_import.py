"""The synthetic LinkedIn export through the real ingest and scoring services.

Asserts the counts, that a re-import is all duplicates and leaves the scoring
state unchanged, and prints the import speed for ~2,000 connections and
~20,000 messages.
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest

from tests.harness import ServiceProcess
from vinculo.cli import main
from vinculo.importers.linkedin import LinkedInExport
from vinculo.importers.synthetic_linkedin import DEFAULT_END, build_export
from vinculo.v1 import scoring_pb2, scoring_pb2_grpc

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


def wait_for_contacts(address: str, expected: int, timeout_s: float = 120.0) -> dict[str, float]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        scores = ranking(address)
        if len(scores) >= expected:
            return scores
        time.sleep(0.5)
    raise AssertionError(f"scoring holds {len(ranking(address))} contacts, expected {expected}")


def test_linkedin_export_imports_once(
    ingest: ServiceProcess,
    scoring: ServiceProcess,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    export = tmp_path / "export.zip"
    build_export(export)  # 2,000 connections, ~20,000 messages
    reader = LinkedInExport(export, OWNER)
    events = list(reader.events())
    contacts = len({e.contact_id for e in events})
    argv = ["import", "linkedin", str(export), "--owner", OWNER, "--ingest", ingest.address]

    started = time.monotonic()
    assert main(argv) == 0
    seconds = time.monotonic() - started
    first = capsys.readouterr().out
    assert f"{len(events)} accepted" in first and "0 duplicate" in first, first
    before = wait_for_contacts(scoring.address, contacts)
    assert len(before) == contacts

    assert main(argv) == 0
    second = capsys.readouterr().out
    assert f"0 accepted, {len(events)} duplicate" in second, second
    time.sleep(3.0)  # give the consumer time to (not) change anything
    assert ranking(scoring.address) == before
    with capsys.disabled():
        print(
            f"\nimport of {len(events)} events ({reader.per_file['Connections.csv']} connections,"
            f" {reader.per_file['messages.csv']} messages): {seconds:.1f} s,"
            f" {len(events) / seconds:,.0f} events/s"
        )
