"""The usual-case shortcut of validation (`usual_ids`) accepts only what the full checks
accept: any ids it lets through, the full checks pass too (hypothesis), and the
edge cases it must send to the full checks are sent there."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vinculo.v1 import events_pb2 as pb
from vinculo.validation import (
    MAX_ID_LENGTH,
    _check_event_id,
    _check_id,
    usual_ids,
)

# Mostly ASCII with the characters that matter here: spaces, '~', '/', controls, non-ASCII.
CHARS = st.sampled_from(["a", "b", "~", "/", " ", "\t", "\x00", "é", "e\u0301", "\u200b"])
IDS = st.lists(CHARS, max_size=6).map("".join) | st.text(max_size=8)


def _full(owner: str, contact: str, event_id: str, own: bool) -> bool:
    event = pb.InteractionEvent(owner_id=owner, contact_id=contact, event_id=event_id)
    problem = _check_event_id(event, own) or _check_id(owner, "owner_id") or _check_id(contact, "c")
    return problem is None


@settings(max_examples=3000, deadline=None)
@given(IDS, IDS, IDS, st.booleans(), st.booleans())
def test_the_shortcut_accepts_nothing_the_full_checks_refuse(
    owner: str, contact: str, event_id: str, own: bool, as_copy: bool
) -> None:
    if as_copy:  # a copy's id of the contact's event, well formed or not
        event_id = f"~{contact}/{event_id}"
    if usual_ids(owner, contact, event_id, own):
        assert _full(owner, contact, event_id, own)


def testusual_ids_are_taken_by_the_shortcut() -> None:
    assert usual_ids("ana", "luis", "x-9", own=True)
    assert usual_ids("luis", "ana", "~ana/x-9", own=False)


def test_edge_cases_go_to_the_full_checks() -> None:
    long = "a" * (MAX_ID_LENGTH + 1)
    for owner, contact, event_id, own in [
        ("ana", "luis", "~ana/x-9", True),  # a copy's id is not an own one
        ("luis", "ana", "~bob/x-9", False),  # a copy's id of someone else's event
        ("luis", "ana", "~ana/~x", False),  # the original takes the copies' form
        ("luis", "ana", "~ana/", False),  # empty original
        ("ana ", "luis", "x", True),
        ("ana", " luis", "x", True),
        ("ana", "luis", "x ", True),
        ("", "luis", "x", True),
        (long, "luis", "x", True),
        ("ana", "luis", long, True),
        ("josé", "luis", "x", True),  # not ASCII: the NFC check decides
        ("ana", "lu\tis", "x", True),
    ]:
        assert not usual_ids(owner, contact, event_id, own), (owner, contact, event_id)
