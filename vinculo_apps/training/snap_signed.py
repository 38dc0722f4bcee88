"""SNAP signed networks (`SRC,DST,RATING,TIME`, e.g. soc-sign-bitcoin-alpha/otc) as events.

Each line is SRC's rating of DST (Bitcoin Alpha and OTC: -10 to +10) at unix
time TIME (fractions allowed). What a rating means here:
- a positive rating is SRC vouching for DST: one outbound ENDORSEMENT from SRC
  (the intimacy class of endorsements, recommendations and introductions), mirrored
  to DST as usual; its size is not kept (an endorsement has no strength field);
- a negative or zero rating is distrust or nothing: no tie-strength feature
  reads it, so it is dropped, and the number dropped is reported on stderr.
Times are checked as for every other format: a TIME before 1990 is refused.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from scoring_service.model.errors import ModelInputError
from vinculo.domain import Interaction
from vinculo.v1 import events_pb2 as pb
from vinculo.validation import MIN_TIME_SECONDS
from vinculo_apps.training import loaders

LAYOUT = "SNAP signed 'SRC,DST,RATING,TIME' (comma separated, TIME in unix seconds)"


def looks_signed(line: str) -> bool:
    """Four comma-separated numbers: how `--format auto` recognises the layout."""
    parts = line.strip().split(",")
    return len(parts) == 4 and all(_is_number(p) for p in parts)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_snap_signed(path: Path) -> Iterator[loaders.PairEvent]:
    """Positive ratings as endorsements; the others counted and dropped (module docstring)."""
    dropped = 0
    with loaders.open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.strip().split(",")
            if len(parts) != 4:
                raise ModelInputError(f"{path}:{number}: {len(parts)} fields; expected {LAYOUT}")
            rating = loaders.parse_number(parts[2], path, number, "RATING")
            when = loaders.parse_number(parts[3], path, number, "TIME")
            if when < MIN_TIME_SECONDS:
                raise ModelInputError(
                    f"{path}:{number}: TIME {parts[3]} is before 1990, not a unix time; "
                    f"expected {LAYOUT}"
                )
            src, dst = parts[0], parts[1]
            if rating <= 0 or src == dst:
                dropped += rating <= 0
                continue
            event = Interaction(pb.INTERACTION_TYPE_ENDORSEMENT, pb.DIRECTION_OUTBOUND, when)
            yield loaders.PairEvent(src, dst, event)
    if dropped:
        print(f"{path}: dropped {dropped} ratings of 0 or below (distrust)", file=sys.stderr)
