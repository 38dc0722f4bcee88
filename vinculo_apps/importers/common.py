"""What every importer shares: the skipped-row log and stable event ids."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

MAX_EXAMPLES = 20


@dataclass
class SkipLog:
    """Rows an importer could not turn into events: counts per reason, a few examples.

    `ignored` counts rows left out by design (a message in the SPAM folder, an
    endorsement the owner rejected): reported, but not an error.
    """

    counts: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)

    def ignore(self, reason: str) -> None:
        """A row left out on purpose, not a row that could not be read."""
        self.ignored[reason] += 1

    def skip(self, where: str, reason: str) -> None:
        """`where` names the row (file:line), `reason` why it was skipped."""
        self.counts[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {reason}")

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def stable_id(prefix: str, *parts: str) -> str:
    """An event id that depends only on the source and its natural key.

    Re-importing the same data yields the same ids, so the ingest and scoring
    services see duplicates and nothing changes.
    """
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=16).hexdigest()
    return f"{prefix}-{digest}"
