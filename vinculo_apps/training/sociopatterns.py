"""SocioPatterns face-to-face contact files (`t i j [Ci Cj]`) as meetings in person.

Each line says that badges `i` and `j` were in face-to-face proximity during the
20-second window ending at unix time `t` (`Ci Cj` are their classes, ignored).
The rule that turns windows into meetings: the windows of one pair (either
order of `i j`) are sorted by time, and a window that ends at most
`WINDOW_SECONDS` after the previous one of that pair continues the same
meeting, so an unbroken run of windows is one meeting. A meeting starts at its
first window's start (`t - 20`), lasts 20 seconds per 20-second step of the run
(`last t - first t + 20`), and is one mutual MEETING_IN_PERSON event, with the
lower-sorted id as the owner (the other side is mirrored as usual).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from scoring_service.model.errors import ModelInputError
from vinculo.domain import Interaction
from vinculo.v1 import events_pb2 as pb
from vinculo.validation import MIN_TIME_SECONDS
from vinculo_apps.training import loaders

WINDOW_SECONDS = 20.0
LAYOUT = "SocioPatterns 't i j' or 't i j Ci Cj' (unix time, two badge ids, optional classes)"


def read_sociopatterns(path: Path) -> Iterator[loaders.PairEvent]:
    """One meeting per unbroken run of 20-second windows of a pair (module docstring)."""
    windows: dict[tuple[str, str], list[float]] = defaultdict(list)
    with loaders.open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            if len(parts) not in (3, 5):
                raise ModelInputError(f"{path}:{number}: {len(parts)} fields; expected {LAYOUT}")
            when = loaders.parse_number(parts[0], path, number, "t")
            if when < MIN_TIME_SECONDS:
                raise ModelInputError(
                    f"{path}:{number}: t {parts[0]} is before 1990, not a unix time; "
                    f"expected {LAYOUT}"
                )
            i, j = sorted(parts[1:3])
            if i != j:
                windows[(i, j)].append(when)
    for (i, j), times in windows.items():
        yield from _meetings(i, j, sorted(times))


def _meetings(i: str, j: str, times: list[float]) -> Iterator[loaders.PairEvent]:
    first = previous = times[0]
    for t in [*times[1:], float("inf")]:
        if t - previous <= WINDOW_SECONDS:
            previous = t
            continue
        event = Interaction(
            pb.INTERACTION_TYPE_MEETING_IN_PERSON,
            pb.DIRECTION_MUTUAL,
            first - WINDOW_SECONDS,
            personalized=True,
            duration_seconds=previous - first + WINDOW_SECONDS,
        )
        yield loaders.PairEvent(i, j, event)
        first = previous = t
