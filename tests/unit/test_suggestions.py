"""Suggestion rules on constructed relationships: the cases a reader of the posts expects."""

from __future__ import annotations

import numpy as np

from scoring_service.features.fold import apply_event
from scoring_service.features.state import DAY, FloatArray, new_state
from scoring_service.suggestions import Cadences, suggest
from vinculo.domain import Interaction
from vinculo.v1 import events_pb2 as pb
from vinculo.v1 import scoring_pb2 as spb

STEADY, COOLING = spb.TREND_STEADY, spb.TREND_COOLING

NOW = 1_750_000_000.0
OUT, IN, MUTUAL = pb.DIRECTION_OUTBOUND, pb.DIRECTION_INBOUND, pb.DIRECTION_MUTUAL
MSG, REPLY = pb.INTERACTION_TYPE_MESSAGE, pb.INTERACTION_TYPE_REPLY


def state_of(*events: tuple[int, int, float]) -> FloatArray:
    """A state from (type, direction, days before NOW) triples."""
    state = new_state()
    for kind, direction, days_ago in sorted(events, key=lambda e: -e[2]):
        apply_event(state, Interaction(kind, direction, NOW - days_ago * DAY, personalized=True))
    return state


def connected(days_ago: float) -> tuple[int, int, float]:
    return (pb.INTERACTION_TYPE_CONNECTION_ACCEPTED, MUTUAL, days_ago)


def conversation(
    start_days_ago: float, rounds: int, every_days: float = 7.0
) -> list[tuple[int, int, float]]:
    events: list[tuple[int, int, float]] = []
    for r in range(rounds):
        t = start_days_ago - r * every_days
        events += [(MSG, OUT, t), (REPLY, IN, t - 0.5)]
    return events


def run(
    cases: dict[str, tuple[FloatArray, float, int, int]], kinds: set[int] | None = None
) -> dict[int, list[str]]:
    ids = list(cases)
    states = np.stack([c[0] for c in cases.values()])
    scores = np.array([c[1] for c in cases.values()])
    tiers = np.array([c[2] for c in cases.values()])
    trends = np.array([c[3] for c in cases.values()])
    found: dict[int, list[str]] = {}
    for s in suggest(ids, states, scores, tiers, trends, NOW, Cadences(), kinds, 10):
        assert s.reason and list(s.evidence), s
        found.setdefault(s.kind, []).append(s.contact_id)
    return found


def test_contact_who_never_replied_is_a_prune_candidate() -> None:
    cases = {
        "silent": (state_of(connected(900), (MSG, OUT, 800), (MSG, OUT, 600)), 0.02, 1, STEADY),
        "recent": (state_of(connected(30)), 0.05, 1, STEADY),  # too new to judge
        "friend": (state_of(connected(900), *conversation(100, 10)), 0.7, 3, STEADY),
    }
    found = run(cases)
    assert found[spb.ACTION_KIND_PRUNE] == ["silent"]


def test_frequent_correspondent_never_met_is_a_meet_candidate() -> None:
    met = state_of(*conversation(120, 12), (pb.INTERACTION_TYPE_MEETING_IN_PERSON, MUTUAL, 40))
    cases = {
        "pen_pal": (state_of(*conversation(120, 12)), 0.75, 3, STEADY),
        "met": (met, 0.9, 4, STEADY),
        "one_way": (state_of(*[(MSG, OUT, d) for d in range(10, 100, 5)]), 0.05, 1, STEADY),
    }
    found = run(cases, {spb.ACTION_KIND_MEET_IN_PERSON})
    assert found == {spb.ACTION_KIND_MEET_IN_PERSON: ["pen_pal"]}


def test_unanswered_inbound_message_asks_for_a_reply() -> None:
    cases = {
        "waiting": (
            state_of((MSG, OUT, 60), (REPLY, IN, 59), (REPLY, OUT, 58), (MSG, IN, 5)),
            0.3,
            2,
            0,
        ),
        "answered": (state_of((MSG, IN, 5), (REPLY, OUT, 4)), 0.3, 2, STEADY),
        "just_now": (state_of((MSG, IN, 0.1)), 0.1, 1, STEADY),
    }
    found = run(cases)
    assert found[spb.ACTION_KIND_REPLY] == ["waiting"]
    evidence = " ".join(
        s.evidence[0]
        for s in suggest(
            ["waiting"],
            cases["waiting"][0][None, :],
            [0.3],
            [2],
            [STEADY],
            NOW,
            Cadences(),
            None,
            5,
        )
        if s.kind == spb.ACTION_KIND_REPLY
    )
    assert "5 days ago" in evidence


def test_close_tie_silent_past_its_cadence_is_nurtured() -> None:
    cases = {
        "quiet_close": (
            state_of(*conversation(60, 6), (pb.INTERACTION_TYPE_CALL, MUTUAL, 25)),
            0.9,
            4,
            STEADY,
        ),
        "fresh_close": (state_of(*conversation(40, 6)), 0.9, 4, STEADY),
        "acquaintance_recent": (state_of(*conversation(60, 2)), 0.3, 2, STEADY),
    }
    found = run(cases, {spb.ACTION_KIND_NURTURE})
    assert found == {spb.ACTION_KIND_NURTURE: ["quiet_close"]}


def test_strong_tie_cooling_is_nurtured_even_within_cadence() -> None:
    cases = {"cooling": (state_of(*conversation(30, 4)), 0.6, 3, COOLING)}
    assert run(cases, {spb.ACTION_KIND_NURTURE}) == {spb.ACTION_KIND_NURTURE: ["cooling"]}


def test_strong_a_year_ago_silent_since_is_a_reconnect_candidate() -> None:
    cases = {
        "old_friend": (state_of(*conversation(500, 15)), 0.35, 2, COOLING),
        "active_friend": (state_of(*conversation(100, 15)), 0.8, 3, STEADY),
        "old_stranger": (state_of((MSG, OUT, 400)), 0.01, 1, STEADY),
    }
    found = run(cases)
    assert found[spb.ACTION_KIND_RECONNECT] == ["old_friend"]
    assert "old_friend" not in found.get(spb.ACTION_KIND_NURTURE, [])


def test_kinds_filter_limit_and_priority_order() -> None:
    states = np.stack([state_of(connected(1000 + i)) for i in range(30)])
    scores = np.linspace(0.3, 0.0, 30)
    out = suggest(
        [f"c{i}" for i in range(30)],
        states,
        scores,
        np.ones(30, dtype=np.int64),
        np.zeros(30, dtype=np.int64),
        NOW,
        Cadences(),
        {spb.ACTION_KIND_PRUNE},
        5,
    )
    assert [s.contact_id for s in out] == ["c29", "c28", "c27", "c26", "c25"]  # weakest first
    assert all(s.kind == spb.ACTION_KIND_PRUNE and s.HasField("last_interaction") for s in out)


def test_no_contacts_no_suggestions() -> None:
    empty = np.zeros((0, new_state().shape[0]))
    assert suggest([], empty, [], [], [], NOW, Cadences(), None, 10) == []


def test_an_inbound_message_from_long_ago_is_not_a_reply_to_make() -> None:
    cases = {
        "stale": (
            state_of((MSG, OUT, 400), (REPLY, IN, 399), (REPLY, OUT, 398), (MSG, IN, 200)),
            0.3,
            2,
            0,
        )
    }
    assert spb.ACTION_KIND_REPLY not in run(cases)


def test_one_date_reads_as_one_number_of_days_and_one_day_is_yesterday() -> None:
    # NOW is 2025-06-15 15:06 UTC; 0.7 and 1.2 days before are both 2025-06-14
    evening, morning = state_of((MSG, IN, 0.7)), state_of((MSG, IN, 1.2))
    for state in (evening, morning):
        found = suggest(
            ["c"],
            state[None, :],
            [0.3],
            [2],
            [STEADY],
            NOW + DAY,
            Cadences(reply_after_days=0.0),
            {spb.ACTION_KIND_REPLY},
            5,
        )
        assert "2025-06-14 (2 days ago)" in found[0].evidence[0]
    yesterday = suggest(
        ["c"],
        morning[None, :],
        [0.3],
        [2],
        [STEADY],
        NOW,
        Cadences(reply_after_days=0.0),
        {spb.ACTION_KIND_REPLY},
        5,
    )
    assert "(yesterday)" in yesterday[0].evidence[0]
    assert "1 days" not in yesterday[0].evidence[0]


def test_a_tie_silent_past_the_reconnect_threshold_is_never_nurtured() -> None:
    # a relationship-tier tie with a short history, silent 387 days: reconnect, as the
    # long-standing ones are, and not nurture beside a reconnect list starting at 180 days
    cases = {"quiet": (state_of(*conversation(387, 2)), 0.4, 3, STEADY)}
    found = run(cases, {spb.ACTION_KIND_NURTURE, spb.ACTION_KIND_RECONNECT})
    assert found == {spb.ACTION_KIND_RECONNECT: ["quiet"]}
    silence = suggest(
        ["quiet"],
        cases["quiet"][0][None, :],
        [0.4],
        [3],
        [STEADY],
        NOW,
        Cadences(),
        {spb.ACTION_KIND_RECONNECT},
        5,
    )[0].evidence[1]
    assert silence.startswith("silent for 379 days; last interaction 2024-06-01 (379 days ago)")
