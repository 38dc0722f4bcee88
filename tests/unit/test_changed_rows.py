"""A commit's rows carried over a cached owner's states: the same result as inserting
each new contact into a sorted copy, in one copy of the states."""

from __future__ import annotations

import bisect

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as hs

from scoring_service import scored_network
from scoring_service.scored_network import OwnerStates, with_changed_rows

WIDTH = 5


def reference(base: OwnerStates, rows: list[tuple[str, np.ndarray]]) -> OwnerStates:
    """The plain way: a copy, rows written over it, new contacts inserted, sorted."""
    contacts, states = base
    states = states.copy()
    added: dict[str, np.ndarray] = {}
    for contact, state in rows:
        row = bisect.bisect_left(contacts, contact)
        if row < len(contacts) and contacts[row] == contact:
            states[row] = state
        else:
            added[contact] = state
    for contact in sorted(added):
        row = bisect.bisect_left(contacts, contact)
        contacts = [*contacts[:row], contact, *contacts[row:]]
        states = np.insert(states, row, added[contact], axis=0)
    return contacts, states


names = hs.text(alphabet="abcde", min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(
    existing=hs.sets(names, max_size=30),
    commit=hs.lists(names, max_size=40),
    sliced=hs.sampled_from([0, 3, 64]),
)
def test_carried_states_equal_the_plain_insert(
    existing: set[str], commit: list[str], sliced: int
) -> None:
    contacts = sorted(existing)
    states = np.asfortranarray(np.arange(len(contacts) * WIDTH, dtype=float).reshape(-1, WIDTH))
    rows = [(c, np.full(WIDTH, -1.0 - i)) for i, c in enumerate(commit)]
    old = scored_network._SLICED_INSERTS
    scored_network._SLICED_INSERTS = sliced  # both ways of placing new rows
    try:
        got_contacts, got_states = with_changed_rows((contacts, states), rows)
    finally:
        scored_network._SLICED_INSERTS = old
    want_contacts, want_states = reference((contacts, states), rows)
    assert got_contacts == want_contacts
    assert np.array_equal(got_states, want_states)
    assert got_states.flags.f_contiguous or len(got_states) <= 1
    assert np.array_equal(states, np.arange(len(contacts) * WIDTH).reshape(-1, WIDTH))  # untouched
