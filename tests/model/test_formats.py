"""SocioPatterns contact windows as meetings, and SNAP files that are something else."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring_service.model.errors import ModelInputError
from vinculo.v1 import events_pb2 as pb
from vinculo_apps.cli import main
from vinculo_apps.training.loaders import detect_format, read_events

T0 = 1_385_982_020


def _windows(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_consecutive_windows_of_a_pair_merge_into_one_meeting(tmp_path: Path) -> None:
    contacts = _windows(
        tmp_path / "hs.txt",
        [
            f"{T0} 454 640 MP MP",
            f"{T0 + 20} 640 454 MP MP",  # either order of the pair: the same meeting
            f"{T0 + 40} 454 640 MP MP",
            f"{T0 + 20} 1 939 2BIO3 2BIO3",  # another pair, interleaved
            f"{T0 + 100} 454 640 MP MP",  # a gap of 60 s: a new meeting
        ],
    )
    assert detect_format(contacts) == "sociopatterns"
    events = sorted(read_events(contacts), key=lambda e: (e.owner, e.event.time))
    pairs = [(e.owner, e.contact) for e in events]
    assert pairs == [("1", "939"), ("454", "640"), ("454", "640")]
    one, first, second = (e.event for e in events)
    assert (one.time, one.duration_seconds) == (T0, 20.0)
    assert (first.time, first.duration_seconds) == (T0 - 20, 60.0)  # three windows
    assert (second.time, second.duration_seconds) == (T0 + 80, 20.0)
    assert {e.event.type for e in events} == {pb.INTERACTION_TYPE_MEETING_IN_PERSON}
    assert {e.event.direction for e in events} == {pb.DIRECTION_MUTUAL}


def test_three_column_contacts_need_the_format_and_are_refused_as_snap(tmp_path: Path) -> None:
    contacts = _windows(tmp_path / "hs.txt", [f"{T0} 454 640", f"{T0 + 20} 454 640"])
    assert detect_format(contacts) == "snap"  # t i j looks like SRC DST TIME ...
    with pytest.raises(ModelInputError) as refused:  # ... but its times are node ids
        list(read_events(contacts))
    message = str(refused.value)
    assert f"{contacts}:1: read as SNAP 'SRC DST UNIXTIME'" in message
    assert "UNIXTIME 640 is before 1990" in message and "--format sociopatterns" in message
    events = list(read_events(contacts, "sociopatterns"))
    assert [e.event.duration_seconds for e in events] == [40.0]


def test_relative_snap_times_are_still_read(tmp_path: Path) -> None:
    # email-Eu-core counts seconds from an anonymous start: small SRC, small times.
    snap = _windows(tmp_path / "email.txt", ["582 364 0", "168 472 2797"])
    assert [e.event.time for e in read_events(snap)] == [0.0, 2797.0]


def test_bad_lines_name_the_accepted_layouts(tmp_path: Path) -> None:
    signed = _windows(tmp_path / "signed.csv", ["6,2,4,1289241911", "6,5,2,1289241941"])
    with pytest.raises(ModelInputError, match="is not SNAP 'SRC DST UNIXTIME'") as refused:
        list(read_events(signed, "snap"))
    assert "snap-signed: 'SRC,DST,RATING,TIME'" in str(refused.value)
    assert "sociopatterns: 't i j [Ci Cj]'" in str(refused.value)
    broken = _windows(tmp_path / "hs.txt", [f"{T0} 454 640 MP"])
    with pytest.raises(ModelInputError, match=r"hs.txt:1: 4 fields; expected SocioPatterns"):
        list(read_events(broken, "sociopatterns"))
    early = _windows(tmp_path / "early.txt", ["640 454 640"])
    with pytest.raises(ModelInputError, match="t 640 is before 1990, not a unix time"):
        list(read_events(early, "sociopatterns"))


def test_the_cli_reads_the_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    contacts = _windows(
        tmp_path / "hs.txt", [f"{T0 + 20 * k} {1 + k % 3} {5 + k % 4}" for k in range(60)]
    )
    with pytest.raises(SystemExit, match="--format sociopatterns"):
        main(["evaluate", "--events", str(contacts)])
    with pytest.raises(SystemExit) as usage:
        main(["evaluate", "--events", str(contacts), "--format", "nope"])
    assert usage.value.code == 2 and "sociopatterns" in capsys.readouterr().err
