"""How long ago, in words, the same way in every text the service writes.

Days are counted between calendar dates (UTC), so one date reads as one number of
days ago wherever it appears, and 1 is "yesterday", never "1 days ago".
"""

from __future__ import annotations

from datetime import UTC, datetime


def days_between(earlier: float, later: float) -> int:
    """Calendar days (UTC) from the date of `earlier` to the date of `later`."""
    a = datetime.fromtimestamp(earlier, UTC).date()
    b = datetime.fromtimestamp(later, UTC).date()
    return (b - a).days


def days_ago(t: float, as_of: float) -> str:
    """'today', 'yesterday', 'N days ago' (or 'in N days' for a time after `as_of`)."""
    days = days_between(t, as_of)
    if days < 0:
        return "tomorrow" if days == -1 else f"in {-days} days"
    return {0: "today", 1: "yesterday"}.get(days, f"{days} days ago")
