"""Label builder and loaders: no leakage across the cut, labels, formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scoring_service.features.features import feature_matrix
from scoring_service.features.state import S, new_state
from vinculo.domain import Interaction
from vinculo.v1 import events_pb2 as pb
from vinculo_apps.importers.common import SkipLog
from vinculo_apps.training.dataset import (
    EventLog,
    Snapshot,
    future_counts,
    future_labels,
    read_labels,
    snapshots,
    supervised_rows,
)
from vinculo_apps.training.loaders import PairEvent, read_copenhagen, read_events

DAY = 86_400.0
T0 = 1_700_000_000.0
CUT = T0 + 10 * DAY


def msg(src: str, dst: str, t: float) -> PairEvent:
    return PairEvent(src, dst, Interaction(pb.INTERACTION_TYPE_MESSAGE, pb.DIRECTION_OUTBOUND, t))


def test_no_feature_uses_an_event_at_or_after_the_cut() -> None:
    before = [msg("a", "b", T0 + i * DAY) for i in range(10)] + [msg("b", "a", T0 + 5 * DAY)]
    after = [msg("a", "b", CUT), msg("b", "a", CUT + DAY), msg("a", "c", CUT + 2 * DAY)]
    (with_future,) = snapshots(EventLog.from_events(before + after), [CUT])
    (past_only,) = snapshots(EventLog.from_events(before), [CUT])
    assert with_future.keys == past_only.keys  # ("a", "c") only exists after the cut
    np.testing.assert_array_equal(
        feature_matrix(with_future.states, CUT), feature_matrix(past_only.states, CUT)
    )
    assert with_future.states[:, S["LAST_TIME"]].max() < CUT


def test_future_labels_count_either_direction_in_the_window() -> None:
    log = EventLog.from_events(
        [
            msg("a", "b", T0),
            msg("a", "c", T0),
            msg("c", "a", CUT + DAY),
            msg("c", "a", CUT + 2 * DAY),
        ]
    )
    (snap,) = snapshots(log, [CUT])
    y, gains = future_labels(snap, future_counts(log, CUT, np.inf))
    by_key = dict(zip(snap.keys, zip(y, gains, strict=True), strict=True))
    assert by_key[("a", "c")] == (1, 2) and by_key[("c", "a")] == (1, 2)
    assert by_key[("a", "b")] == (0, 0)


def test_labels_file_and_friend_list(tmp_path: Path) -> None:
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("owner_id,contact_id,label\nb,a,1\na,c,0\n")
    assert read_labels(csv_file, []) == {("a", "b"): 1, ("a", "c"): 0}
    friends = tmp_path / "fb_friends.csv"
    friends.write_text("# user_a,user_b\n1,2\n5,6\n")
    # only pairs that interacted are labelled; listed ones are friends
    assert read_labels(friends, [("2", "1"), ("1", "3")]) == {("1", "2"): 1, ("1", "3"): 0}


def test_file_labels_win_over_feedback_and_feedback_fills_the_rest() -> None:
    feedback = [
        PairEvent(
            "a",
            x,
            Interaction(pb.INTERACTION_TYPE_FEEDBACK, 0, T0 + DAY, feedback_label=label),
            True,
        )
        for x, label in (("b", pb.FEEDBACK_LABEL_NOT_KNOWN), ("c", pb.FEEDBACK_LABEL_CLOSE))
    ]
    log = EventLog.from_events([msg("a", "b", T0), msg("a", "c", T0), *feedback])
    (snap,) = snapshots(log, [CUT])
    rows, y = supervised_rows(snap, {("a", "b"): 1})
    labels = dict(zip(rows.keys, y, strict=True))
    assert labels[("a", "b")] == 1 and labels[("b", "a")] == 1  # the file, both directions
    assert labels[("a", "c")] == 1  # the owner's feedback: close
    assert ("c", "a") not in labels  # feedback labels only the owner's row


def test_jsonl_short_and_full_names_duplicates_and_replies(tmp_path: Path) -> None:
    lines = [
        {
            "event_id": "1",
            "owner_id": "o",
            "contact_id": "c",
            "type": "message",
            "direction": "outbound",
            "occurred_at": "2024-01-01T10:00:00Z",
            "personalized": True,
        },
        {
            "event_id": "1",
            "owner_id": "o",
            "contact_id": "c",
            "type": "message",
            "direction": "outbound",
            "occurred_at": "2024-01-01T10:00:00Z",
        },
        {
            "event_id": "2",
            "owner_id": "o",
            "contact_id": "c",
            "type": "INTERACTION_TYPE_REPLY",
            "direction": "DIRECTION_INBOUND",
            "occurred_at": "2024-01-01T11:00:00+00:00",
            "in_reply_to": "1",
        },
        {
            "event_id": "3",
            "owner_id": "o",
            "contact_id": "c",
            "type": "feedback",
            "occurred_at": 1704110400,
            "feedback_label": "close",
        },
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    events = list(read_events(path))
    assert len(events) == 3
    assert events[1].event.type == pb.INTERACTION_TYPE_REPLY
    assert events[1].event.direction == pb.DIRECTION_INBOUND
    assert events[1].event.reply_to_time == events[0].event.time
    assert events[2].owner_only and events[2].event.feedback_label == pb.FEEDBACK_LABEL_CLOSE


def test_copenhagen_missed_call_is_a_one_way_attempt(tmp_path: Path) -> None:
    calls = tmp_path / "calls.csv"
    calls.write_text("timestamp,caller,callee,duration\n10,1,2,120\n20,1,2,-1\n")
    answered, missed = list(read_copenhagen(calls))
    assert answered.event.type == pb.INTERACTION_TYPE_CALL
    assert answered.event.duration_seconds == 120
    assert missed.event.type == pb.INTERACTION_TYPE_MESSAGE


def test_csv_event_files_load_like_their_json_lines(tmp_path: Path) -> None:
    from vinculo_apps.importers.files import read_events as read_records
    from vinculo_apps.importers.files import write_csv, write_jsonl

    source = tmp_path / "source.jsonl"
    source.write_text(
        "\n".join(
            json.dumps(
                {
                    "event_id": str(i),
                    "owner_id": "o",
                    "contact_id": "c",
                    "type": "message",
                    "direction": "outbound" if i % 2 else "inbound",
                    "occurred_at": 1704110400 + i * 60,
                }
            )
            for i in range(5)
        )
        + "\n"
    )
    records = list(read_records(source, "jsonl", SkipLog()))
    write_jsonl(records, tmp_path / "events.jsonl")
    write_csv(records, tmp_path / "events.csv")
    from_jsonl = list(read_events(tmp_path / "events.jsonl"))
    from_csv = list(read_events(tmp_path / "events.csv"))
    assert len(from_csv) == 5 and from_csv == from_jsonl


def test_conflicting_directions_are_reported_and_directed_keeps_them_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("owner_id,contact_id,label\na,b,1\nb,a,0\na,c,1\nc,a,1\n")
    assert read_labels(labels, []) == {("a", "b"): 0, ("a", "c"): 1}  # the last row wins
    err = capsys.readouterr().err
    assert f"{labels}: 1 pairs are labelled differently in each direction" in err
    assert "a,b 1 but b,a 0" in err and "--directed" in err
    directed = read_labels(labels, [], directed=True)
    assert directed == {("a", "b"): 1, ("b", "a"): 0, ("a", "c"): 1, ("c", "a"): 1}
    assert capsys.readouterr().err == ""
    snap = Snapshot([("a", "b"), ("b", "a")], np.stack([new_state(), new_state()]), 0.0)
    rows, y = supervised_rows(snap, directed, directed=True)
    assert dict(zip(rows.keys, y.tolist(), strict=True)) == {
        ("a", "b"): 1,
        ("b", "a"): 0,
        ("a", "c"): 1,
        ("c", "a"): 1,
    }
