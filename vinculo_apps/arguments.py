"""Argument types shared by the `vinculo` verbs: a bad value is a usage error naming it."""

from __future__ import annotations

import argparse
from pathlib import Path

from vinculo.records import parse_timestamp


def instant(text: str) -> float:
    """Unix seconds from RFC 3339 with a zone or a number of seconds."""
    try:
        return parse_timestamp(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected RFC 3339 with a zone (2024-06-01T00:00:00Z) or unix seconds"
        ) from None


def missing_directory(option: str, path: Path | None) -> str | None:
    """What is wrong with an output path whose directory does not exist, else None:
    checked before the work, so a typo does not cost a whole run."""
    if path is not None and not path.parent.is_dir():
        return f"{option} {path}: no directory {path.parent}"
    return None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be at least 1")
    return value
