"""SNAP signed networks (`SRC,DST,RATING,TIME`) read as a first-class format."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring_service.model.errors import ModelInputError
from vinculo.v1 import events_pb2 as pb
from vinculo_apps.training.dataset import EventLog, snapshots
from vinculo_apps.training.loaders import detect_format, read_events
from vinculo_apps.training.snap_signed import read_snap_signed

T0 = 1_289_241_911


def _file(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_positive_ratings_are_endorsements_and_the_others_are_dropped_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signed = _file(
        tmp_path / "soc-sign-bitcoinotc.csv",
        [f"6,2,4,{T0}.72836", f"6,5,-2,{T0 + 30}", f"7,6,10,{T0 + 60}", f"8,8,3,{T0 + 90}"],
    )
    assert detect_format(signed) == "snap-signed"
    events = list(read_events(signed))
    assert [(e.owner, e.contact) for e in events] == [("6", "2"), ("7", "6")]  # no self-rating
    assert {e.event.type for e in events} == {pb.INTERACTION_TYPE_ENDORSEMENT}
    assert {e.event.direction for e in events} == {pb.DIRECTION_OUTBOUND}
    assert events[0].event.time == pytest.approx(T0 + 0.72836)
    assert "dropped 1 ratings of 0 or below" in capsys.readouterr().err
    # Mirrored like every event: 2 sees an endorsement from 6.
    (snap,) = snapshots(EventLog.read([signed], "auto"), [T0 + 100.0])
    assert ("2", "6") in snap.keys and ("6", "2") in snap.keys


def test_bad_signed_lines_are_refused_naming_the_layout(tmp_path: Path) -> None:
    early = _file(tmp_path / "early.csv", ["6,2,4,1200"])
    with pytest.raises(ModelInputError, match=r"early.csv:1: TIME 1200 is before 1990"):
        list(read_snap_signed(early))
    short = _file(tmp_path / "short.csv", [f"6,2,4,{T0}", "6,2,4"])
    with pytest.raises(ModelInputError, match=r"short.csv:2: 3 fields; expected SNAP signed"):
        list(read_events(short, "snap-signed"))
    word = _file(tmp_path / "word.csv", [f"6,2,good,{T0}"])
    with pytest.raises(ModelInputError, match="RATING 'good' is not a number"):
        list(read_events(word, "snap-signed"))
