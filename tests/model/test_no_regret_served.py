"""`vinculo train --labels` where one signal is the truth ships that signal, and a real
scoring service serves it over gRPC: scores in its order, tiers and explanations."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from sklearn.metrics import roc_auc_score

from scoring_service.model.artifact import ScoringModel
from tests.harness import ServiceProcess, wait_until
from tests.model import labelled_network
from vinculo.v1 import events_pb2 as pb
from vinculo.v1 import scoring_pb2, scoring_pb2_grpc
from vinculo_apps.cli import main
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration


def _relationships(address: str, owner: str) -> list[scoring_pb2.Relationship]:
    with grpc.insecure_channel(address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)  # type: ignore[no-untyped-call]
        page = stub.ListRelationships(
            scoring_pb2.ListRelationshipsRequest(owner_id=owner, page_size=100), timeout=30
        )
    return list(page.relationships)


def test_one_true_signal_ships_and_is_served(
    broker: EmbeddedBroker,
    ingest: ServiceProcess,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    network = labelled_network.write(tmp_path, people=30, ties=240, seed=1)
    model_path = tmp_path / "labels.skops"
    args = ["train", "--events", str(network.events), "--labels", str(network.labels)]
    assert main([*args, "--out", str(model_path), "--folds", "3", "--seeds", "2"]) == 0
    printed = capsys.readouterr().err
    assert "family signal:contact_seconds" in printed
    assert "nested AUC per seed: " in printed and "range" in printed  # --seeds: the spread

    model = ScoringModel.load(model_path)  # a signal model is a loadable artifact
    assert model.metadata["family"] == "signal:contact_seconds"
    assert model.signal_model is not None and model.signal_model["signals"] == ["contact_seconds"]

    assert main(["import", "events", str(network.events), "--ingest", ingest.address]) == 0
    scoring = ServiceProcess(
        "scoring_service", tmp_path / "scoring", broker.bootstrap, ["--model-path", str(model_path)]
    )
    records = 2 * sum(1 for _ in network.events.open())  # every event and its mirrored copy
    try:
        scoring.start()
        wait_until(
            lambda: scoring.metric("vinculo_scoring_events_committed_total") >= records,
            timeout_s=240,  # a shared, loaded machine
            what="every record committed",
        )
        owners = sorted({person for pair in network.seconds for person in pair})
        served = [r for owner in owners for r in _relationships(scoring.address, owner)]
    finally:
        scoring.stop()

    truth = {**network.label, **{(b, a): y for (a, b), y in network.label.items()}}
    seconds = {**network.seconds, **{(b, a): s for (a, b), s in network.seconds.items()}}
    keyed = {(r.owner_id, r.contact_id): r for r in served}
    assert set(keyed) == set(truth)  # every tie, seen from both sides
    ties = sorted(keyed)
    # The served score is the signal, through an increasing map: the labels' order exactly.
    assert roc_auc_score([truth[k] for k in ties], [keyed[k].score for k in ties]) == 1.0
    by_seconds = sorted(ties, key=lambda k: seconds[k])
    scores = [keyed[k].score for k in by_seconds]
    assert scores == sorted(scores)
    strongest = keyed[by_seconds[-1]]
    assert strongest.tier != pb.TIER_UNSPECIFIED
    sentence = "scored by one signal your labels chose: time spent together on calls and in person"
    assert sentence in strongest.explanation
    assert any(s.startswith("met in person twice") for s in strongest.explanation)
