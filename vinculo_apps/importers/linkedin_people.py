"""Who a LinkedIn export's row names: people matched by profile URL, by name only
when one contact has it, namesakes reported (`Ambiguous`), deleted accounts one per
conversation (the identity rules of docs/importing.md, used by `linkedin.py`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from vinculo_apps.importers.linkedin_csv import fix_mojibake, normalise_name, profile_slug


@dataclass(frozen=True, slots=True)
class Person:
    slug: str
    name: str  # normalised
    # For a deleted account ("LinkedIn Member", no URL): the conversation it wrote in.
    # Such senders are different people; one per conversation is the best the export says.
    anonymous_in: str = ""
    display: str = field(default="", compare=False)  # the name as written, for people


# Shown instead of a deleted or hidden member's name.
PLACEHOLDER_NAMES = frozenset({"linkedin member", "linkedin user"})


def _opaque(slug: str) -> bool:
    """A member-id URL (/in/ACoAAB...) rather than the vanity one Connections.csv has."""
    return slug.startswith("acoa") and len(slug) >= 20


class Ambiguous(LookupError):
    """A name without a URL that several contacts (different profile URLs) share."""


@dataclass
class People:
    """Contact ids by profile slug and by normalised name, and who the owner is.

    The profile URL is a person's identity; a name alone never merges two URLs.
    A row without a URL is matched by name only when one contact has that name;
    when several do (namesakes), `contact_id` raises `Ambiguous`: reported, not
    guessed.
    """

    by_slug: dict[str, str] = field(default_factory=dict)
    by_name: dict[str, set[str]] = field(default_factory=dict)  # name -> contact ids
    owner_slugs: set[str] = field(default_factory=set)
    owner_names: set[str] = field(default_factory=set)

    def is_owner(self, person: Person) -> bool:
        if person.slug and person.slug in self.owner_slugs:
            return True
        if person.slug and person.slug in self.by_slug:
            return False
        return bool(person.name) and person.name in self.owner_names

    def contact_id(self, person: Person) -> str:
        """The id of a person, registering them on first sight (raises Ambiguous)."""
        if person.anonymous_in:
            digest = hashlib.blake2b(person.anonymous_in.encode(), digest_size=6).hexdigest()
            return f"linkedin-deleted:{digest}"
        if person.slug in self.by_slug:
            return self.by_slug[person.slug]
        named = self.by_name.get(person.name, set()) if person.name else set()
        if not person.slug or _opaque(person.slug):
            if len(named) > 1:
                raise Ambiguous(
                    f"{len(named)} contacts are named {person.name!r} and this row has no "
                    "profile URL that tells which"
                )
            if named:
                found = next(iter(named))
                if person.slug:
                    self.by_slug[person.slug] = found
                return found
        cid = f"linkedin:{person.slug}" if person.slug else f"linkedin-name:{person.name}"
        if person.slug:
            self.by_slug[person.slug] = cid
        if person.name:
            self.by_name.setdefault(person.name, set()).add(cid)
        return cid


def person(url: str, first: str, last: str = "", in_conversation: str = "") -> Person:
    """`in_conversation`: where a deleted account without URL is seen (messages only)."""
    slug, name = profile_slug(url), normalise_name(f"{first} {last}")
    if not slug and name in PLACEHOLDER_NAMES:
        return Person("", "", anonymous_in=in_conversation)
    return Person(slug, name, display=" ".join(fix_mojibake(f"{first} {last}").split()))
