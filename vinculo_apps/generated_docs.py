"""Tables generated into the docs between two marker comments (metrics, settings)."""

from __future__ import annotations

import re


def replace_marked(text: str, begin: str, end: str, body: str) -> str:
    """`text` with what lies between the markers replaced by `body`; no markers: ValueError."""
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"markers {begin} ... {end} not found")
    return pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text)
