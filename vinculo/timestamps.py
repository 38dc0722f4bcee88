"""One conversion between protobuf Timestamps and unix seconds, used everywhere.

Two idioms for the same conversion can differ in the last bit of a float
(`seconds + nanos / 1e9` against `ToNanoseconds() / 1e9`), and a page token
compares the instant it issued with the one a client sends back: so every
module converts through here, and a float becomes a Timestamp by rounding to
the nearest nanosecond.
"""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp  # type: ignore[import-untyped]

NANOS_PER_SECOND = 1_000_000_000


def seconds_of(stamp: Timestamp) -> float:
    """Unix seconds of a Timestamp."""
    return float(stamp.ToNanoseconds() / NANOS_PER_SECOND)


def set_seconds(stamp: Timestamp, seconds: float) -> None:
    """Set a Timestamp field (a message's `occurred_at`, `as_of`...) to unix seconds."""
    stamp.FromNanoseconds(round(seconds * NANOS_PER_SECOND))


def timestamp(seconds: float) -> Timestamp:
    """A new Timestamp at unix seconds."""
    stamp = Timestamp()
    set_seconds(stamp, seconds)
    return stamp
