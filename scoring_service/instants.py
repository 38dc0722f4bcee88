"""Validation of the instants a client sends (`as_of`, and the one inside a page token).

A protobuf Timestamp may carry any int64 seconds and int32 nanos; only
0001-01-01..9999-12-31 with nanos in 0..999,999,999 is a Timestamp at all
(google/protobuf/timestamp.proto). Scores are computed in float unix seconds,
so an instant must also be finite. Anything else is a bad request naming the
field, never an exception inside the scorer.
"""

from __future__ import annotations

import math

from google.protobuf.timestamp_pb2 import Timestamp  # type: ignore[import-untyped]

from vinculo.timestamps import seconds_of

MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
MAX_NANOS = 999_999_999


class BadInstant(ValueError):
    """An instant outside what a Timestamp can hold; the message names the field."""


def checked_seconds(stamp: Timestamp, field: str) -> float:
    """Unix seconds of a client's Timestamp, or BadInstant naming `field`."""
    if not MIN_SECONDS <= stamp.seconds <= MAX_SECONDS:
        raise BadInstant(
            f"{field}: seconds {stamp.seconds} is outside 0001-01-01..9999-12-31 "
            f"({MIN_SECONDS}..{MAX_SECONDS})"
        )
    if not 0 <= stamp.nanos <= MAX_NANOS:
        raise BadInstant(f"{field}: nanos {stamp.nanos} is outside 0..{MAX_NANOS}")
    return seconds_of(stamp)


def checked_float_seconds(value: object, field: str) -> float:
    """A finite float of unix seconds in the Timestamp range (from a decoded token)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInstant(f"{field}: not a number")
    seconds = float(value)
    if not math.isfinite(seconds) or not MIN_SECONDS <= seconds <= MAX_SECONDS + 1:
        raise BadInstant(f"{field}: {value!r} is not an instant in 0001-01-01..9999-12-31")
    return seconds
