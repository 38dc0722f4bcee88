"""Train -> evaluate on a slice of real data (first 20k CollegeMsg lines), and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scoring_service.model.artifact import DEFAULT_MODEL_PATH, ScoringModel
from tests.model.conftest import DATASETS
from vinculo_apps.cli import main
from vinculo_apps.training import pipeline
from vinculo_apps.training.dataset import EventLog

# One worker runs this module: its shared fixtures are built once (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("model-end-to-end")


def test_model_beats_the_count_baseline(college_slice: EventLog, slice_model: ScoringModel) -> None:
    result = pipeline.evaluate_future(college_slice, slice_model)
    model, count = result["model"], result["baselines"]["count"]
    assert model["auc"] > count["auc"]
    assert model["ndcg_at_10"] > count["ndcg_at_10"]
    assert 0.0 <= model["ece"] <= 0.1


def snap_file(path: Path, log: EventLog, events: int = 8000) -> Path:
    """The first `events` of a log as a SNAP file (`SRC DST UNIXTIME`)."""
    path.write_text(
        "".join(f"{e.owner} {e.contact} {int(e.event.time)}\n" for e in log.events[:events])
    )
    return path


def test_cli_train_then_evaluate_writes_the_json_schema(
    tmp_path: Path, college_slice: EventLog, capsys: pytest.CaptureFixture[str]
) -> None:
    events = snap_file(tmp_path / "slice.txt", college_slice)
    model = tmp_path / "m.skops"
    assert main(["train", "--events", str(events), "--holdout", "--out", str(model)]) == 0
    low, high = ScoringModel.load(model).metadata["label_window_days"]
    assert 0 < low <= high  # the score's meaning in days is stored and printed
    assert f"within about {low:.0f}-{high:.0f} days" in capsys.readouterr().err
    out = tmp_path / "eval.json"
    assert (
        main(["evaluate", "--events", str(events), "--model", str(model), "--json", str(out)]) == 0
    )
    data = json.loads(out.read_text())
    assert data["task"] == "future"
    assert "warning" not in data["split"]  # --holdout: the test window was never seen
    auc = data["margins"]["auc"]  # the margin each target reads, with its interval
    best = data["baselines"][auc["baseline"]]["auc"]
    best = 1.0 - best if auc["reversed"] else best  # below 0.5: counted reversed
    assert auc["margin"] == pytest.approx(data["model"]["auc"] - best)
    assert auc["low"] <= auc["margin"] <= auc["high"]
    assert set(data["model"]) == {"auc", "ndcg_at_10", "ece"}
    assert set(data["baselines"]) == {
        "count",
        "recency",
        "decay_7d",
        "decay_30d",
        "reciprocity",
        "contact_seconds",
    }
    assert set(data["baselines"]["recency"]) == {"auc", "ndcg_at_10"}


def test_evaluating_a_model_on_the_window_it_learned_from_says_so(
    tmp_path: Path, college_slice: EventLog, capsys: pytest.CaptureFixture[str]
) -> None:
    events = snap_file(tmp_path / "slice.txt", college_slice)
    model = tmp_path / "m.skops"
    assert main(["train", "--events", str(events), "--out", str(model)]) == 0  # no --holdout
    out = tmp_path / "eval.json"
    assert (
        main(["evaluate", "--events", str(events), "--model", str(model), "--json", str(out)]) == 0
    )
    warning = json.loads(out.read_text())["split"]["warning"]
    assert "not a held-out test" in warning and "--holdout" in warning
    assert f"warning: {warning}" in capsys.readouterr().out


def test_evaluate_prints_the_split_and_the_margin_over_the_best_baseline() -> None:
    from vinculo_apps.training.cli_evaluate import render

    result = {
        "task": "future",
        "split": {"test_rows": 100, "owner_view": {"auc": 0.7, "ece": 0.01}},
        "model": {"auc": 0.80, "ndcg_at_10": 0.50, "ece": 0.02, "reliability": []},
        "baselines": {
            "count": {"auc": 0.70, "ndcg_at_10": 0.55},
            "recency": {"auc": 0.75, "ndcg_at_10": 0.52},
        },
        "margins": {
            "auc": {"baseline": "recency", "margin": 0.05, "low": 0.01, "high": 0.09}
            | {"level": 0.95, "resamples": 200},
            "ndcg_at_10": {"baseline": "count", "margin": -0.05, "low": -0.1, "high": 0.002}
            | {"level": 0.95, "resamples": 200},
        },
    }
    text = render(result)
    assert "  test_rows: 100" in text and "  owner_view: auc 0.7, ece 0.01" in text
    assert (
        "model - best baseline, auc: +0.0500 (recency; 95% interval +0.0100 to +0.0900 "
        "over 200 resamples of people)"
    ) in text
    assert "model - best baseline, ndcg_at_10: -0.0500 (count; 95% interval -0.1000 to" in text
    result["margins"]["auc"]["reversed"] = True
    assert "model - best baseline, auc: +0.0500 (recency, reversed; 95% interval" in render(result)


def test_evaluating_a_labels_model_on_its_own_labels_says_so(tmp_path: Path) -> None:
    copenhagen = DATASETS / "copenhagen"
    if not copenhagen.exists():
        pytest.skip(f"real data not found at {copenhagen} (../shared/datasets beside the repo)")
    events = [str(copenhagen / "calls.csv"), str(copenhagen / "sms.csv")]
    labels = copenhagen / "fb_friends.csv"
    model, out = tmp_path / "m.skops", tmp_path / "eval.json"
    train = ["train", "--events", *events, "--labels", str(labels), "--out", str(model)]
    assert main([*train, "--folds", "2"]) == 0
    evaluate = ["evaluate", "--events", *events, "--model", str(model), "--json", str(out)]
    assert main([*evaluate, "--labels", str(labels)]) == 0
    assert "not a held-out test" in json.loads(out.read_text())["split"]["warning"]
    other = tmp_path / "other.csv"  # other labels (the first half of the pairs): no warning
    lines = labels.read_text().splitlines()
    other.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    assert main([*evaluate, "--labels", str(other)]) == 0
    assert "warning" not in json.loads(out.read_text())["split"]
    assert "ece_note" not in json.loads(out.read_text())["model"]  # it predicts these labels


def test_the_default_model_on_labels_notes_that_it_predicts_something_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copenhagen = DATASETS / "copenhagen"
    if not copenhagen.exists():
        pytest.skip(f"real data not found at {copenhagen} (../shared/datasets beside the repo)")
    events = [str(copenhagen / "calls.csv"), str(copenhagen / "sms.csv")]
    out = tmp_path / "eval.json"
    evaluate = ["evaluate", "--events", *events, "--model", str(DEFAULT_MODEL_PATH)]
    labels = ["--labels", str(copenhagen / "fb_friends.csv"), "--json", str(out)]
    assert main([*evaluate, *labels]) == 0
    note = json.loads(out.read_text())["model"]["ece_note"]
    assert note.startswith("this model predicts something else (future task:")
    assert f"ECE note: {note}" in capsys.readouterr().out


def test_evaluate_shows_how_much_the_fit_seed_moves_the_model(
    tmp_path: Path, college_slice: EventLog, capsys: pytest.CaptureFixture[str]
) -> None:
    events = snap_file(tmp_path / "slice.txt", college_slice)
    out = tmp_path / "eval.json"
    assert main(["evaluate", "--events", str(events), "--seeds", "2", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    spread = data["split"]["fit_seeds"]
    assert spread["auc"][0] == pytest.approx(data["model"]["auc"])  # the table is seed 0's
    assert len(spread["auc"]) == len(spread["ndcg_at_10"]) == len(spread["ece"]) == 2
    assert spread["auc"][0] != spread["auc"][1]  # another split, another fit
    assert "fit_seeds: auc " in capsys.readouterr().out
    model = tmp_path / "m.skops"
    assert main(["train", "--events", str(events), "--holdout", "--out", str(model)]) == 0
    with pytest.raises(SystemExit, match="--seeds: only when evaluate trains"):
        main(["evaluate", "--events", str(events), "--seeds", "2", "--model", str(model)])


def test_labels_choose_among_candidates_and_seeds_show_the_spread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copenhagen = DATASETS / "copenhagen"
    if not copenhagen.exists():
        pytest.skip(f"real data not found at {copenhagen} (../shared/datasets beside the repo)")
    out = tmp_path / "eval.json"
    argv = ["evaluate", "--events", str(copenhagen / "calls.csv"), "--folds", "2"]
    labels = ["--labels", str(copenhagen / "fb_friends.csv"), "--seeds", "2", "--json", str(out)]
    assert main([*argv, *labels]) == 0
    data = json.loads(out.read_text())
    chosen = data["split"]["cross_validation"]["chosen_per_fold"]
    assert len(chosen) == 2 and all(
        c in ("linear", "refined", "shipped", "boosted") or c.startswith("signal:") for c in chosen
    )
    spread = data["split"]["fit_seeds"]
    assert spread["auc"][0] == pytest.approx(data["model"]["auc"])  # the table is seed 0's
    assert len(spread["ece"]) == 2 and spread["auc"][0] != spread["auc"][1]
    assert "fit_seeds: auc " in capsys.readouterr().out
