"""`vinculo export` against a real broker: what went in through the ingest API comes
back out once per event, keeps one person's network on request, and trains a model."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from scoring_service.model.artifact import ScoringModel
from tests.harness import ServiceProcess, wait_until
from vinculo.v1 import events_pb2 as pb
from vinculo.v1 import scoring_pb2, scoring_pb2_grpc
from vinculo.validation import mirrored
from vinculo_apps.cli import main
from vinculo_apps.demo_network import generate
from vinculo_apps.devstack.broker import EmbeddedBroker, free_port
from vinculo_apps.importers.common import SkipLog
from vinculo_apps.importers.files import event_to_record, read_events, write_jsonl

pytestmark = pytest.mark.integration


def canonical(events: list[pb.InteractionEvent]) -> list[str]:
    """Each event as seen from the side whose id sorts first: an event and its mirrored
    copy read the same."""
    result = []
    for event in events:
        copy = mirrored(event)
        seen = copy if copy is not None and event.owner_id > event.contact_id else event
        result.append(json.dumps(event_to_record(seen), sort_keys=True))
    return sorted(result)


def test_export_returns_every_ingested_event_once_and_trains_a_model(
    broker: EmbeddedBroker,
    ingest: ServiceProcess,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    network = generate(seed=3, people=12, focal_contacts=120, other_contacts=(20, 40))
    history = tmp_path / "history.jsonl"
    write_jsonl(network.events, history)
    assert main(["import", "events", str(history), "--ingest", ingest.address]) == 0
    mirrored_records = network.records() - len(network.events)
    assert mirrored_records > 0  # the topic holds copies to leave out

    out = tmp_path / "exported.jsonl"
    capsys.readouterr()
    assert main(["export", "--out", str(out), "--kafka-bootstrap", broker.bootstrap]) == 0
    summary = capsys.readouterr().out
    assert f"exported {len(network.events):,} events" in summary
    assert f"left out {mirrored_records:,} mirrored copies" in summary
    exported = list(read_events(out, None, SkipLog()))
    assert canonical(exported) == canonical(network.events)

    # One person's network: every event they took part in, once, seen from their side.
    focal = network.focal
    mine = tmp_path / "mine.csv"
    assert (
        main(
            ["export", "--out", str(mine), "--owner", focal, "--kafka-bootstrap", broker.bootstrap]
        )
        == 0
    )
    theirs = list(read_events(mine, None, SkipLog()))
    assert {e.owner_id for e in theirs} == {focal}
    involving = [e for e in network.events if focal in (e.owner_id, e.contact_id)]
    assert len(theirs) == len(involving)

    # The export is training data: retrain on what the service has been scoring, and
    # serve the retrained model from a scoring service reading the same topic.
    model = tmp_path / "retrained.skops"
    assert main(["train", "--events", str(out), "--out", str(model)]) == 0
    version = ScoringModel.load(model).version
    scoring = ServiceProcess(
        "scoring_service", tmp_path / "scoring", broker.bootstrap, ["--model-path", str(model)]
    )
    try:
        scoring.start()
        wait_until(
            lambda: scoring.metric("vinculo_scoring_events_committed_total") >= network.records(),
            timeout_s=120,
            what="every record committed",
        )
        with grpc.insecure_channel(scoring.address) as channel:
            stub = scoring_pb2_grpc.ScoringServiceStub(channel)  # type: ignore[no-untyped-call]
            page = stub.ListRelationships(
                scoring_pb2.ListRelationshipsRequest(owner_id=focal, page_size=5), timeout=30
            )
    finally:
        scoring.stop()
    assert page.relationships and page.model_version == version


def test_export_without_the_topic_says_so(
    broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "none.jsonl"
    assert main(["export", "--out", str(out), "--kafka-bootstrap", broker.bootstrap]) == 2
    assert "no topic vinculo.interactions.v1" in capsys.readouterr().err


def test_export_from_an_unreachable_broker_fails_fast_and_leaves_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "none.jsonl"
    nobody = f"127.0.0.1:{free_port()}"
    assert main(["export", "--out", str(out), "--kafka-bootstrap", nobody, "--timeout-s", "1"]) == 2
    assert f"Kafka at {nobody}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no half-written export left behind
