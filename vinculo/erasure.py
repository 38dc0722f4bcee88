"""Tombstones: what has been forgotten, in a form that names no one.

`ErasureService.ForgetContact(owner, contact)` and `ForgetOwner(owner)` make a
tombstone. It holds keyed digests of the ids, never the ids: the tombstone
itself must not be a trace of the person (it is kept forever, in the compacted
topic `vinculo.tombstones.v1` and in every scoring store). A digest is a
pseudonym, not an anonymisation: whoever already knows an id can check whether
it was forgotten; nobody can list the forgotten ids from the digests.

Time: a tombstone drops every event that occurred at or before `until`, which
is the moment of the forget plus the one day into the future that validation
accepts (`MAX_FUTURE_SECONDS`). Any event accepted before the forget therefore
has `occurred_at <= until`, and no replay can bring it back; an event that
occurs later (a new interaction after that day) counts again.

What a tombstone matches (docs/decisions/0013-erasure.md):
- ForgetContact(A, B): A's events with contact B (A's side of the tie only: B's
  own network, which holds A, is B's data and is kept);
- ForgetOwner(X): every event whose owner OR contact is X, so X leaves their own
  network and everyone else's.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

from vinculo.identifiers import nfc
from vinculo.validation import MAX_FUTURE_SECONDS

TOMBSTONES_TOPIC = "vinculo.tombstones.v1"
_DOMAIN = b"vinculo-erasure-v1\x00"


@functools.lru_cache(maxsize=65_536)
def digest(person_id: str) -> str:
    """The pseudonym of an id in tombstones (128 bits of SHA-256, hex)."""
    return hashlib.sha256(_DOMAIN + nfc(person_id).encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Tombstone:
    owner: str  # digest of the owner
    contact: str  # digest of the contact; "" forgets the owner as a person
    until: float  # events that occurred at or before this (epoch seconds) are dropped

    @classmethod
    def for_contact(cls, owner_id: str, contact_id: str, now: float) -> Tombstone:
        return cls(digest(owner_id), digest(contact_id), now + MAX_FUTURE_SECONDS)

    @classmethod
    def for_owner(cls, owner_id: str, now: float) -> Tombstone:
        return cls(digest(owner_id), "", now + MAX_FUTURE_SECONDS)

    @property
    def key(self) -> bytes:
        """Compaction key: one record per (owner, contact) or per person."""
        return f"{self.owner}/{self.contact}".encode()

    def encode(self) -> bytes:
        return json.dumps(
            {"owner": self.owner, "contact": self.contact, "until": self.until}
        ).encode()

    @classmethod
    def decode(cls, value: bytes) -> Tombstone:
        """Raises ValueError naming what is wrong with the record."""
        try:
            doc = json.loads(value)
            tombstone = cls(str(doc["owner"]), str(doc["contact"]), float(doc["until"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a tombstone record: {exc}") from exc
        if len(tombstone.owner) != 32 or not math.isfinite(tombstone.until):
            raise ValueError("not a tombstone record: bad owner digest or time")
        return tombstone


class TombstoneSet:
    """Every tombstone known, to test events against (`erased`)."""

    def __init__(self, tombstones: Iterable[Tombstone] = ()) -> None:
        self.people: dict[str, float] = {}
        self.pairs: dict[tuple[str, str], float] = {}
        for tombstone in tombstones:
            self.add(tombstone)

    def __bool__(self) -> bool:
        return bool(self.people or self.pairs)

    def __len__(self) -> int:
        return len(self.people) + len(self.pairs)

    def add(self, tombstone: Tombstone) -> bool:
        """Keep it (the later `until` wins); False when it changes nothing."""
        if tombstone.contact:
            pair = (tombstone.owner, tombstone.contact)
            if self.pairs.get(pair, -math.inf) >= tombstone.until:
                return False
            self.pairs[pair] = tombstone.until
            return True
        if self.people.get(tombstone.owner, -math.inf) >= tombstone.until:
            return False
        self.people[tombstone.owner] = tombstone.until
        return True

    def tombstones(self) -> list[Tombstone]:
        return [Tombstone(o, "", t) for o, t in self.people.items()] + [
            Tombstone(o, c, t) for (o, c), t in self.pairs.items()
        ]

    def erased(self, owner_id: str, contact_id: str, occurred_at: float) -> bool:
        """Whether an event of `owner_id` with `contact_id` at `occurred_at` is forgotten."""
        if not self:
            return False
        owner, contact = digest(owner_id), digest(contact_id)
        people = self.people
        if people.get(owner, -math.inf) >= occurred_at:
            return True
        if people.get(contact, -math.inf) >= occurred_at:
            return True
        return self.pairs.get((owner, contact), -math.inf) >= occurred_at
