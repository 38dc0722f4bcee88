"""The seen-id and history checksums keep their stored meaning: the CRC of the bytes
`_text` spells (ids joined by NUL, a trailing NUL) and the packed numbers, whatever
the ids hold (hypothesis), so rows written before still verify."""

from __future__ import annotations

import math
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from scoring_service.row_checksums import _DOUBLE, _HISTORY, _text, history_checksum, seen_checksum

TIMES = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text(), TIMES)
def test_seen_checksum_is_the_crc_of_the_ids_then_the_time(
    owner: str, event_id: str, t: float
) -> None:
    expected = zlib.crc32(_DOUBLE.pack(t), _text(owner, event_id, ""))
    assert seen_checksum(owner, event_id, t) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text(), TIMES, st.booleans(), st.one_of(st.none(), TIMES))
def test_history_checksum_is_the_crc_of_the_ids_then_the_columns(
    owner: str, contact: str, t: float, personalized: bool, reply: float | None
) -> None:
    row = (owner, contact, t, 3, 1, personalized, 60, 1, 0, math.nan if reply is None else reply)
    packed = _HISTORY.pack(t, 3, 1, float(personalized), 60.0, 1, 0, row[9])
    assert history_checksum(row) == zlib.crc32(packed, _text(owner, contact, ""))
