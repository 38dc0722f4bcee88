"""`vinculo train` / `evaluate` name what was wrong in one line, without a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from vinculo_apps.cli import main

SNAP = "1 2 100\n2 1 200\n1 3 300\n3 1 400\n2 3 500\n"


def _fails(argv: list[str]) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    message = stop.value.code
    assert isinstance(message, str), "an input error must end with a message, not a bare code"
    return message


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "events.txt"
    path.write_text(SNAP)
    return path


def test_a_missing_event_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    message = _fails(["evaluate", "--events", str(missing)])
    assert message == f"vinculo evaluate: {missing}: No such file or directory"


def test_a_bad_snap_line_is_named_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("1 2 100\n1 2 soon\n")
    message = _fails(["train", "--events", str(path), "--out", str(tmp_path / "m.skops")])
    assert message == f"vinculo train: {path}:2: UNIXTIME 'soon' is not a number"


def test_a_copenhagen_file_with_unknown_columns_names_both_layouts(tmp_path: Path) -> None:
    path = tmp_path / "calls.csv"
    path.write_text("timestamp,from,to\n1,a,b\n")
    message = _fails(["evaluate", "--events", str(path)])
    assert f"{path}: header 'timestamp,from,to'" in message
    assert "timestamp,caller,callee,duration" in message and "timestamp,sender,recipient" in message


def test_a_bad_call_duration_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "calls.csv"
    path.write_text("timestamp,caller,callee,duration\n1,a,b,60\n2,a,b,long\n")
    assert _fails(["evaluate", "--events", str(path)]).endswith(
        f"{path}:3: duration 'long' is not a number"
    )


def test_labels_with_a_bad_header_or_value_are_named(events: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("a,b,c\n1,2,1\n")
    message = _fails(["evaluate", "--events", str(events), "--labels", str(labels)])
    assert f"{labels}: expected header 'owner_id,contact_id,label'" in message
    assert "got 'a,b,c'" in message
    labels.write_text("owner_id,contact_id,label\n1,2,1\n1,3,yes\n")
    message = _fails(["evaluate", "--events", str(events), "--labels", str(labels)])
    assert message == f"vinculo evaluate: {labels}:3: label 'yes' must be 0 or 1"


def test_a_file_that_is_not_a_model_is_refused(events: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "model.skops"
    garbage.write_text("not a model")
    message = _fails(["evaluate", "--events", str(events), "--model", str(garbage)])
    assert message == f"vinculo evaluate: {garbage}: not a skops model file (not a ZIP archive)"
    other = tmp_path / "other.skops"
    import skops.io as sio  # here, not on top: its import costs every collecting worker ~0.9 s

    sio.dump({"format": "something-else"}, str(other))
    message = _fails(["evaluate", "--events", str(events), "--model", str(other)])
    assert message == f"vinculo evaluate: {other}: a skops file, but not a Vinculo scoring model"


@pytest.mark.parametrize("verb", ["train", "evaluate"])
def test_an_unreadable_as_of_is_a_usage_error_naming_the_option(
    events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: str
) -> None:
    argv = [verb, "--events", str(events), "--labels", str(events), "--as-of", "yesterday"]
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--out", str(tmp_path / "m.skops")] if verb == "train" else argv)
    assert stop.value.code == 2
    assert "argument --as-of: 'yesterday': expected RFC 3339 with a zone" in capsys.readouterr().err


def test_too_little_data_says_so_instead_of_a_library_error(events: Path, tmp_path: Path) -> None:
    message = _fails(["train", "--events", str(events), "--out", str(tmp_path / "m.skops")])
    assert message.startswith("vinculo train: too little data to train a model: ")
    assert not (tmp_path / "m.skops").exists()


def test_an_output_in_a_missing_directory_is_named_before_training(tmp_path: Path) -> None:
    out = tmp_path / "missing-dir" / "m.skops"
    message = _fails(["train", "--events", str(tmp_path / "unread.txt"), "--out", str(out)])
    assert message == f"vinculo train: --out {out}: no directory {out.parent}"


@pytest.mark.parametrize("option", ["--json", "--reliability-png", "--comparison-png"])
def test_an_evaluate_output_in_a_missing_directory_is_named_first(
    tmp_path: Path, option: str
) -> None:
    out = tmp_path / "missing-dir" / "out"
    argv = ["evaluate", "--events", str(tmp_path / "unread.txt"), option, str(out)]
    assert _fails(argv) == f"vinculo evaluate: {option} {out}: no directory {out.parent}"


def test_fewer_than_two_folds_is_a_usage_error(
    events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", "--events", str(events), "--labels", str(events), "--folds", "1"])
    assert stop.value.code == 2
    assert "--folds: 1: cross-validation needs at least 2 folds" in capsys.readouterr().err
