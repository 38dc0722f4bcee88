"""What the contact's name, company and position may contain (text for people to read).

They are shown in reports, terminals and HTML pages, so they must not carry
characters that change how the text around them is shown: control characters
(an ESC starts a terminal escape sequence, a NUL ends a C string) and the bidi
embedding, override and isolate controls (U+202A..U+202E, U+2066..U+2069: a
right-to-left override makes "moc.evil" read as "live.com"). Unlike ids, they
may hold other format characters that names need: the zero-width (non-)joiner
of Persian and Indic scripts and emoji sequences, the LRM/RLM marks.

The ingest service normalises what a real export holds without harm, instead
of refusing the event (the interaction is valid; only its label is odd): a
run of line breaks and tabs ("Head of\\r\\nSales" in a spreadsheet) becomes
one space, the bidi controls are removed (right-to-left names still show right to left: the
Unicode bidi algorithm orders them without help), and the text is put in
Unicode normalisation form C. A control character left after that (NUL, ESC,
DEL, C1) rejects the event, naming the field and the character.
"""

from __future__ import annotations

import re

from vinculo.identifiers import nfc

PROFILE_FIELDS = ("contact_name", "contact_company", "contact_position")

# Tab, LF, VT, FF, CR, NEL, line and paragraph separators: become a space.
_BREAKS = re.compile("[\t\n\x0b\x0c\r\x85\u2028\u2029]+")
# The bidi embeddings, overrides and isolates: removed.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
# C0, DEL and C1 left after the breaks became spaces: refused.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f]")


def tidy(value: str) -> str:
    """Line breaks and tabs as spaces, bidi controls removed, outer whitespace stripped, NFC."""
    if value.isascii() and value.isprintable():
        return value  # the usual case
    return nfc(_BIDI.sub("", _BREAKS.sub(" ", value))).strip()


def forbidden_character(value: str) -> str | None:
    """The first character profile text must not contain, as U+XXXX, or None."""
    found = _FORBIDDEN.search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"
