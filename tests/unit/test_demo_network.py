"""The demo network looks like DOMAIN.md says and is the same for the same seed."""

from __future__ import annotations

from collections import Counter

import pytest

from vinculo.v1 import events_pb2 as pb
from vinculo.validation import validate_event
from vinculo_apps import demo_network
from vinculo_apps.demo_network import DemoNetwork, contacts_of

# One worker runs this module: its shared fixtures are built once (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("demo-network")

NOW = 1_780_000_000.0


@pytest.fixture(scope="module")
def network() -> DemoNetwork:
    return demo_network.generate(seed=7, now=NOW)


def focal_events(network: DemoNetwork) -> list[pb.InteractionEvent]:
    return [e for e in network.events if e.owner_id == network.focal]


def test_same_seed_same_events_other_seed_other_events(network: DemoNetwork) -> None:
    again = demo_network.generate(seed=7, now=NOW)
    assert [e.SerializeToString() for e in again.events] == [
        e.SerializeToString() for e in network.events
    ]
    other = demo_network.generate(seed=8, now=NOW)
    assert [e.event_id for e in other.events] != [e.event_id for e in network.events]


def test_every_event_is_valid_and_ids_are_unique_per_owner(network: DemoNetwork) -> None:
    assert all(validate_event(e, NOW) is None for e in network.events)
    keys = Counter((e.owner_id, e.event_id) for e in network.events)
    assert max(keys.values()) == 1


def test_history_spans_months_and_ends_near_now(network: DemoNetwork) -> None:
    times = [e.occurred_at.seconds for e in network.events]
    assert max(times) <= NOW
    assert NOW - max(times) < 2 * 86_400
    assert (NOW - min(times)) / 86_400 > 150


def test_focal_owner_has_about_300_contacts_and_40_people_are_tracked(
    network: DemoNetwork,
) -> None:
    assert network.focal == "ana"
    assert len(network.tracked) == 40
    assert len(contacts_of(network, "ana")) == 300
    tracked_contacts = contacts_of(network, "ana") & set(network.tracked)
    assert len(tracked_contacts) >= 20  # some of ana's contacts are tracked: mirrored


def test_over_90_percent_never_answer_the_personalised_welcome(network: DemoNetwork) -> None:
    events = focal_events(network)
    welcomes = {
        e.event_id
        for e in events
        if e.type == pb.INTERACTION_TYPE_MESSAGE
        and e.personalized
        and e.direction == pb.DIRECTION_OUTBOUND
    }
    answered = {e.in_reply_to for e in events if e.in_reply_to in welcomes}
    rate = len(answered) / len(welcomes)
    assert 0.03 <= rate <= 0.15, rate


def test_few_contacts_are_reciprocal_and_some_were_met(network: DemoNetwork) -> None:
    events = focal_events(network)
    directions: dict[str, set[int]] = {}
    for e in events:
        if e.type in (pb.INTERACTION_TYPE_MESSAGE, pb.INTERACTION_TYPE_REPLY):
            directions.setdefault(e.contact_id, set()).add(e.direction)
    reciprocal = sum(1 for d in directions.values() if len(d) == 2) / 300
    met = len({e.contact_id for e in events if e.type == pb.INTERACTION_TYPE_MEETING_IN_PERSON})
    assert 0.1 <= reciprocal <= 0.45, reciprocal
    assert 0.04 <= met / 300 <= 0.25, met


def test_most_contacts_are_only_connections(network: DemoNetwork) -> None:
    archetypes = Counter(a for (owner, _), a in network.archetypes.items() if owner == "ana")
    assert archetypes["dormant"] / 300 > 0.6
    for kind in ("core", "cooling", "spammer", "cold_outreach", "met_at_event"):
        assert archetypes[kind] >= 3, kind


def test_spam_is_one_sided(network: DemoNetwork) -> None:
    spammers = {c for (o, c), a in network.archetypes.items() if o == "ana" and a == "spammer"}
    outbound, inbound = Counter[str](), Counter[str]()
    for e in focal_events(network):
        if e.contact_id in spammers:
            assert e.type != pb.INTERACTION_TYPE_REPLY  # nobody answers anybody
            if e.type == pb.INTERACTION_TYPE_MESSAGE:
                (outbound if e.direction == pb.DIRECTION_OUTBOUND else inbound)[e.contact_id] += 1
    for spammer in spammers:
        assert outbound[spammer] <= 1  # at most ana's welcome after their invitation
        assert inbound[spammer] >= 3


def test_records_count_mirrored_copies(network: DemoNetwork) -> None:
    mirrored = sum(1 for e in network.events if not e.owner_only)
    assert network.records() == len(network.events) + mirrored
    assert 0 < mirrored < len(network.events)
