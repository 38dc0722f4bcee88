"""A labelled network whose truth is one signal: time spent together (issue 15).

Every tie has two meetings of random length and a random number of messages
each way at random times, so counts, recency and reciprocity carry no
information; a tie is labelled 1 when its meeting seconds are above the median.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

START = 1_704_067_200  # 2024-01-01T00:00:00Z
SPAN = 180 * 86_400


@dataclass
class LabelledNetwork:
    events: Path
    labels: Path
    seconds: dict[tuple[str, str], float]  # meeting seconds per (owner, contact) as written
    label: dict[tuple[str, str], int]


def _event(
    n: int, owner: str, contact: str, kind: str, direction: str, when: int
) -> dict[str, object]:
    return {
        "event_id": f"e{n}",
        "owner_id": owner,
        "contact_id": contact,
        "type": kind,
        "direction": direction,
        "occurred_at": when,
    }


def write(directory: Path, people: int = 40, ties: int = 400, seed: int = 0) -> LabelledNetwork:
    rng = np.random.default_rng(seed)
    names = [f"p{i:02d}" for i in range(people)]
    pairs = sorted({tuple(sorted(rng.choice(people, 2, replace=False))) for _ in range(ties)})
    records: list[dict[str, object]] = []
    seconds: dict[tuple[str, str], float] = {}
    for a, b in pairs:
        owner, contact = names[a], names[b]
        total = 0.0
        for _ in range(2):
            duration = int(rng.integers(60, 7200))
            meeting = _event(len(records), owner, contact, "meeting_in_person", "mutual", 0)
            meeting["occurred_at"] = START + int(rng.integers(0, SPAN))
            meeting["duration_seconds"] = duration
            records.append(meeting)
            total += duration
        for _ in range(int(rng.integers(0, 8))):
            direction = "outbound" if rng.random() < 0.5 else "inbound"
            when = START + int(rng.integers(0, SPAN))
            records.append(_event(len(records), owner, contact, "message", direction, when))
        seconds[(owner, contact)] = total
    median = float(np.median(list(seconds.values())))
    label = {pair: int(s > median) for pair, s in seconds.items()}
    events = directory / "events.jsonl"
    events.write_text("".join(json.dumps(r) + "\n" for r in records))
    labels = directory / "labels.csv"
    rows = [f"{a},{b},{y}\n" for (a, b), y in label.items()]
    labels.write_text("owner_id,contact_id,label\n" + "".join(rows))
    return LabelledNetwork(events, labels, seconds, label)
