"""Best-effort duplicate detection at the door.

The ingest service remembers the most recently accepted (owner_id, event_id)
pairs, up to a bounded count, in memory. It catches the common case (a client
retrying a batch that was already acknowledged) cheaply and without a store.
With the outbox on, it is seeded at start with the newest acknowledged events
(ingest_service.dedupe_seed), so a retry after a restart or a crash is told
DUPLICATE too. It forgets beyond the window, and two instances do not share
it: the scoring service dedupes authoritatively, in the same transaction as
its state. So a duplicate that slips through here costs a record, never a
double count.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

EventKey = tuple[str, str]  # (owner_id, event_id)


class RecentEvents:
    """A thread-safe, bounded set of recently accepted event keys (oldest evicted first)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._keys: OrderedDict[EventKey, None] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._keys

    def add_all(self, keys: Iterable[EventKey]) -> None:
        """Remember keys as accepted; call only after the broker acknowledged them."""
        if self._capacity == 0:
            return
        with self._lock:
            for key in keys:
                self._keys[key] = None
                self._keys.move_to_end(key)
            while len(self._keys) > self._capacity:
                self._keys.popitem(last=False)
