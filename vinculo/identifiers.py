"""What an identifier (and a channel) may contain, and the ids of mirrored copies.

An id is text a person cannot tell apart from another id only by invisible
characters. So ids and channels must not contain control characters (C0, DEL,
C1), format characters (bidi overrides and marks, zero-width characters, the
byte-order mark: Unicode category Cf), line or paragraph separators, or
surrogates; ids must not begin or end with whitespace. Ids are compared in
Unicode normalisation form C: the ingest service normalises owner, contact,
event and in_reply_to ids and the channel before validating, so "josé" typed
precomposed (NFC) or decomposed (NFD) is one contact.

Event ids are unique per owner. The mirrored copy of ana's event `x-9` in
luis's network must not take an id luis may use himself, so it gets
`~ana/x-9`: a leading `~` is reserved for mirrored copies, an own event id
cannot start with it, and the original owner inside the id keeps copies of
two people's `x-9` apart.
"""

from __future__ import annotations

import re
import unicodedata

MIRROR_MARK = "~"
_MIRROR_SEPARATOR = "/"

# C0 and DEL, C1, and every Unicode format character (Cf: bidi embeddings,
# overrides, isolates and marks, zero-width space/joiners, word joiner, BOM,
# soft hyphen...), the line and paragraph separators (Zl, Zp) and surrogates.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_FORBIDDEN = re.compile(
    "["
    + "".join(
        re.escape(chr(c))
        for c in (*range(0x20000), *range(0xE0000, 0xF0000))  # planes 0, 1, 14: all of them
        if unicodedata.category(chr(c)) in _FORBIDDEN_CATEGORIES
        and not 0xD800 <= c <= 0xDFFF  # surrogates cannot sit in a regex class literally
    )
    + "\ud800-\udfff]"
)


def forbidden_character(value: str) -> str | None:
    """The first character an id or channel must not contain, as U+XXXX, or None."""
    found = _FORBIDDEN.search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"


def is_nfc(value: str) -> bool:
    return value.isascii() or unicodedata.is_normalized("NFC", value)


def nfc(value: str) -> str:
    return value if value.isascii() else unicodedata.normalize("NFC", value)


def mirror_event_id(owner_id: str, event_id: str) -> str:
    """The event id of the mirrored copy of `owner_id`'s event `event_id`."""
    return f"{MIRROR_MARK}{owner_id}{_MIRROR_SEPARATOR}{event_id}"


def is_mirror_id(event_id: str) -> bool:
    return event_id.startswith(MIRROR_MARK)


def original_event_id(event_id: str, original_owner: str) -> str | None:
    """The original id inside a mirrored copy's id, when it is one of `original_owner`'s."""
    prefix = f"{MIRROR_MARK}{original_owner}{_MIRROR_SEPARATOR}"
    return event_id[len(prefix) :] if event_id.startswith(prefix) else None
