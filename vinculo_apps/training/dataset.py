"""Training and evaluation rows: relationship states as of a cut, and their labels.

A row is one directed relationship (owner, contact), as the scoring service
keeps it. `snapshots` replays a time-sorted log once through `fold` (the same
code the service runs) and copies the states at each cut: a state at cut T
holds events strictly before T, never one at or after it.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scoring_service.features.fold import Events, columns_of, fold
from scoring_service.features.state import STATE_SIZE, FloatArray, S, new_state
from scoring_service.model.errors import ModelInputError
from vinculo.domain import mirror_direction
from vinculo.v1 import events_pb2 as pb
from vinculo_apps.training.loaders import PairEvent, read_events

Pair = tuple[str, str]


@dataclass
class EventLog:
    """Events sorted by time (stable, so a file's order breaks ties)."""

    events: list[PairEvent]
    times: FloatArray

    @classmethod
    def from_events(cls, events: Iterable[PairEvent]) -> EventLog:
        items = list(events)
        times = np.array([e.event.time for e in items], dtype=np.float64)
        order = np.argsort(times, kind="stable")
        return cls([items[i] for i in order], times[order])

    @classmethod
    def read(cls, paths: Sequence[Path], fmt: str = "auto") -> EventLog:
        return cls.from_events(e for path in paths for e in read_events(path, fmt))

    def quantile_time(self, fraction: float) -> float:
        """Time of the event at `fraction` of the log: the cut 'at 80% of the events'."""
        index = min(int(fraction * len(self.times)), len(self.times) - 1)
        return float(self.times[index])

    @property
    def span(self) -> tuple[float, float]:
        return float(self.times[0]), float(self.times[-1])


@dataclass
class Snapshot:
    """States of every relationship with an event before `as_of`, read at `as_of`."""

    keys: list[Pair]
    states: FloatArray
    as_of: float

    @property
    def owners(self) -> np.ndarray:
        return np.array([k[0] for k in self.keys])


def snapshots(
    log: EventLog, cuts: Sequence[float], owners: set[str] | None = None
) -> list[Snapshot]:
    """States at each cut (ascending) from events strictly before it; `owners` limits the sides."""
    index: dict[Pair, int] = {}
    states = np.zeros((0, STATE_SIZE), dtype=np.float64)
    result: list[Snapshot] = []
    start = 0
    for cut in sorted(cuts):
        end = int(np.searchsorted(log.times, cut, side="left"))  # first event at or after it
        for chunk in range(start, end, FOLD_CHUNK):
            events = log.events[chunk : min(chunk + FOLD_CHUNK, end)]
            states = _fold_sides(events, index, states, owners)
        result.append(Snapshot(list(index), states.copy(), cut))
        start = max(start, end)
    return result


# Events folded at once while replaying a log (bounds the columns' memory).
FOLD_CHUNK = 100_000


def _fold_sides(
    events: Sequence[PairEvent],
    index: dict[Pair, int],
    states: FloatArray,
    owners: set[str] | None,
) -> FloatArray:
    """Fold each event into its owner's row and, mirrored, into its contact's; returns
    the state matrix grown by the relationships these events started."""
    table: list[tuple[float, ...]] = []
    for owner, contact, event, owner_only in events:
        sides = [(owner, contact, event.direction)]
        if not owner_only:
            sides.append((contact, owner, mirror_direction(event.direction)))
        for side_owner, side_contact, direction in sides:
            if owners is not None and side_owner not in owners:
                continue
            row = index.setdefault((side_owner, side_contact), len(index))
            table.append(columns_of(row, event, direction))
    grown = len(index) - len(states)
    if grown:
        states = np.vstack([states, np.zeros((grown, STATE_SIZE), dtype=np.float64)])
    fold(states, Events.from_tuples(table))
    return states


def unordered(a: str, b: str) -> Pair:
    return (a, b) if a <= b else (b, a)


def future_counts(log: EventLog, start: float, end: float) -> Counter[Pair]:
    """Interactions per unordered pair in [start, end); feedback and connection events excluded."""
    lo, hi = np.searchsorted(log.times, [start, end], side="left")
    counts: Counter[Pair] = Counter()
    for owner, contact, event, _ in log.events[lo:hi]:
        if event.kind is not None:
            counts[unordered(owner, contact)] += 1
    return counts


def future_labels(snapshot: Snapshot, counts: Counter[Pair]) -> tuple[np.ndarray, FloatArray]:
    """Label 1 when the pair interacts at all in the window; gain = number of those interactions."""
    gains = np.array([counts.get(unordered(*k), 0) for k in snapshot.keys], dtype=np.float64)
    return (gains > 0).astype(np.int64), gains


POSITIVE_FEEDBACK = (pb.FEEDBACK_LABEL_CLOSE, pb.FEEDBACK_LABEL_RELATIONSHIP)


def read_labels(path: Path, known_pairs: Iterable[Pair], directed: bool = False) -> dict[Pair, int]:
    """Unordered pair -> 0/1 from a labels file (`directed`: ordered pair -> 0/1).

    Two layouts: the project's CSV `owner_id,contact_id,label`, and a friend list
    such as Copenhagen's fb_friends.csv (`# user_a,user_b`): listed pairs are 1
    and every other pair in `known_pairs` is 0; only `known_pairs` (the pairs that
    interacted) are labelled, as the Copenhagen task asks. Undirected, a pair labelled
    differently in its two directions is reported on stderr (the last row wins).
    """
    with path.open(encoding="utf-8") as handle:
        header = handle.readline().strip().lstrip("#").replace(" ", "").split(",")
        body = list(csv.reader(handle))
    if header[:3] == ["owner_id", "contact_id", "label"]:
        listed = [((r[0], r[1]), _label(path, line, r[2])) for line, r in _rows(body, 3)]
        rows = dict(listed)
        if directed:
            return rows
        _report_conflicts(path, rows)
        return {unordered(a, b): label for (a, b), label in listed}  # the last row wins
    if len(header) == 2:
        pair = (lambda a, b: (a, b)) if directed else unordered
        friends = {pair(r[0], r[1]) for _, r in _rows(body, 2)}
        return {p: int(p in friends) for p in {pair(a, b) for a, b in known_pairs}}
    raise ModelInputError(
        f"{path}: expected header 'owner_id,contact_id,label' or a two-column friend list, "
        f"got {','.join(header)!r}"
    )


def _report_conflicts(path: Path, rows: dict[Pair, int]) -> None:
    """Name the pairs whose two directions carry different labels (undirected reading)."""
    conflicts = sorted((a, b) for (a, b), label in rows.items() if rows.get((b, a), label) != label)
    if conflicts:
        a, b = conflicts[0]
        print(
            f"{path}: {len(conflicts) // 2} pairs are labelled differently in each direction "
            f"(for example {a},{b} {rows[(a, b)]} but {b},{a} {rows[(b, a)]}); the last row "
            "of a pair wins; --directed keeps the two directions apart",
            file=sys.stderr,
        )


def _rows(body: list[list[str]], width: int) -> Iterable[tuple[int, list[str]]]:
    """(line number, row) of the rows with at least `width` fields; line 1 is the header."""
    return ((i + 2, row) for i, row in enumerate(body) if len(row) >= width)


def _label(path: Path, line: int, text: str) -> int:
    if text.strip() in ("0", "1"):
        return int(text)
    raise ModelInputError(f"{path}:{line}: label {text!r} must be 0 or 1")


def supervised_rows(
    snapshot: Snapshot, file_labels: dict[Pair, int], directed: bool = False
) -> tuple[Snapshot, np.ndarray]:
    """Rows with a label: the file's label (both directions of the pair), else the owner's feedback.

    The file wins where both exist (it is the trainer's explicit ground truth);
    feedback labels only the owner's own row: close/relationship -> 1,
    acquaintance/not known -> 0. A labelled pair with no event gets an empty state.
    """
    keys, states, labels = [], [], []
    present = set(snapshot.keys)
    for i, key in enumerate(snapshot.keys):
        label = file_labels.get(key if directed else unordered(*key))
        feedback = int(snapshot.states[i, S["FEEDBACK_LABEL"]])
        if label is None and feedback:
            label = int(feedback in POSITIVE_FEEDBACK)
        if label is not None:
            keys.append(key)
            states.append(snapshot.states[i])
            labels.append(label)
    for (a, b), label in file_labels.items():
        for key in ((a, b),) if directed else ((a, b), (b, a)):
            if key not in present:
                keys.append(key)
                states.append(new_state())
                labels.append(label)
    matrix = np.array(states).reshape(-1, STATE_SIZE)
    return Snapshot(keys, matrix, snapshot.as_of), np.array(labels, dtype=np.int64)
