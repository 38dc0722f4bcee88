"""One owner's network scored at one instant: what every read of it is answered from."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from scoring_service.features.state import FloatArray
from scoring_service.network_cache import NetworkCache, Rebase
from scoring_service.pagination import ranking_order

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ScoredNetwork:
    """One owner's relationships scored at `as_of`; rows in contact order."""

    owner_id: str
    contacts: list[str]
    states: FloatArray
    scores: FloatArray
    tiers: npt.NDArray[np.integer]
    as_of: float
    context: FloatArray | None = None  # the scorer's owner_context, one row per contact
    # Derived once per network and reused while it is cached: ranking orders and
    # rendered rows. Never mutate what is stored here.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    _memo_lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def once(self, key: Any, compute: Callable[[], T]) -> T:
        """`memo[key]`, computed by the first reader that needs it while the others wait
        (eight readers of a network that just changed computed it eight times)."""
        value: T | None = self.memo.get(key)
        if value is not None:
            return value
        with self._memo_lock:
            value = self.memo.get(key)
            if value is None:
                value = compute()
                self.memo[key] = value
            return value

    def order(self, weakest_first: bool, tiers: tuple[int, ...]) -> list[int]:
        """Row indices in ranking order, only the given tiers (all when empty)."""
        key = ("order", weakest_first, tiers)
        order: list[int] | None = self.memo.get(key)
        if order is None:
            rows = self._rows_in(tiers)
            ranked = ranking_order(self.scores[rows], self.contacts, weakest_first)
            order = rows[ranked].tolist() if tiers else ranked
            self.memo[key] = order
        return order

    def top(self, weakest_first: bool, tiers: tuple[int, ...], k: int) -> tuple[list[int], int]:
        """The first `k` rows of `order` and the length of all of it, without sorting
        all of it: a partition finds the k-th key, only the rows up to it are sorted
        (a first page of a 30k network: ~30x fewer rows sorted)."""
        known: list[int] | None = self.memo.get(("order", weakest_first, tiers))
        if known is not None:
            return known[:k], len(known)
        rows = self._rows_in(tiers)
        primary = self.scores[rows] if weakest_first else -self.scores[rows]
        if k >= len(rows):
            return self.order(weakest_first, tiers)[:k], len(rows)
        if k <= 0:
            return [], len(rows)
        kth = np.partition(primary, k - 1)[k - 1]
        # Rows in ascending row order = contact order: a stable sort keeps ties by contact.
        candidates = np.flatnonzero(primary <= kth)
        first = candidates[np.argsort(primary[candidates], kind="stable")[:k]]
        return rows[first].tolist(), len(rows)

    def _rows_in(self, tiers: tuple[int, ...]) -> npt.NDArray[np.intp]:
        if not tiers:
            return np.arange(len(self.contacts))
        return np.flatnonzero(np.isin(self.tiers, tiers))


OwnerStates = tuple[list[str], FloatArray]  # contacts (sorted) and their states, as stored


def states_of(network: ScoredNetwork) -> OwnerStates:
    return network.contacts, network.states


def with_changed_rows(base: OwnerStates, rows: Sequence[tuple[str, FloatArray]]) -> OwnerStates:
    """`base` with a commit's rows written over it: a new copy, contacts kept sorted.

    Runs in the consumer thread for every cached owner a commit changes, so the
    states are copied once (a 30k network is ~25 MB): new contacts are placed while
    copying, in slices between them, not inserted into a copy."""
    contacts, states = base
    changed: dict[int, FloatArray] = {}
    added: dict[str, FloatArray] = {}
    for contact, state in rows:
        row = bisect.bisect_left(contacts, contact)
        if row < len(contacts) and contacts[row] == contact:
            changed[row] = state
        else:
            added[contact] = state
    if not added:
        states = states.copy(order="K")  # readers may be scoring the old array; layout kept
    else:
        contacts, states, moved = _with_added(contacts, states, added)
        changed = {moved(row): state for row, state in changed.items()}
    for row, state in changed.items():
        states[row] = state
    return contacts, states


# Up to this many new contacts are placed by slices; more go through one np.insert.
_SLICED_INSERTS = 64


def _with_added(
    contacts: list[str], states: FloatArray, added: dict[str, FloatArray]
) -> tuple[list[str], FloatArray, Callable[[int], int]]:
    """New sorted contacts and a feature-major copy of the states with the added rows in
    their places; the third value maps an old row to its new one."""
    new_contacts = sorted(added)
    at = [bisect.bisect_left(contacts, contact) for contact in new_contacts]
    new_rows = np.stack([added[c] for c in new_contacts])
    if len(at) > _SLICED_INSERTS:
        out = np.asfortranarray(np.insert(states, at, new_rows, axis=0))
    else:
        out = np.empty((len(contacts) + len(at), states.shape[1]), order="F")
        previous = 0
        for i, position in enumerate(at):  # old rows [previous, position) move down by i
            out[previous + i : position + i] = states[previous:position]
            out[position + i] = new_rows[i]
            previous = position
        out[previous + len(at) :] = states[previous:]
    merged = list(contacts)
    for i, (position, contact) in enumerate(zip(at, new_contacts, strict=True)):
        merged.insert(position + i, contact)
    return merged, out, lambda row: row + bisect.bisect_right(at, row)


def network_cache(
    max_owners: int = 256, max_rows: int = 500_000, ttl_s: float = 30.0, stale_s: float = 0.0
) -> NetworkCache[ScoredNetwork]:
    rebase = Rebase(states_of, with_changed_rows, size=lambda base: len(base[0]))
    return NetworkCache(
        max_owners,
        max_rows,
        ttl_s,
        size=lambda n: len(n.contacts),
        rebase=rebase,
        stale_s=stale_s,
    )
