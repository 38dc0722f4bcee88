"""The mixed row replays the ingest -> scored step's own stream: "half the rate" is
half of the same work."""

from __future__ import annotations

import pytest

from bench import mixed
from bench.datasets import make_event
from vinculo.v1 import events_pb2 as pb

READ_OWNERS = ["read:a", "read:b"]


def _stream() -> list[pb.InteractionEvent]:
    return [make_event(f"s-{i}", f"em:{i % 3}", f"em:{i % 5}", 1_000_000.0 + i) for i in range(10)]


def test_each_pass_replays_the_stream_under_new_people(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mixed, "READ_SHARE", 0.0)
    stream = _stream()
    events = mixed._events(READ_OWNERS, seed=1, stream=stream)(25)
    assert [e.type for e in events] == [s.type for s in stream] * 2 + [s.type for s in stream[:5]]
    first, second = events[:10], events[10:20]
    assert {e.owner_id for e in first}.isdisjoint({e.owner_id for e in second})
    # The same shape of ties: who meets whom repeats within a pass as it did in the stream.
    assert [(e.owner_id.split("-", 1)[1], e.contact_id.split("-", 1)[1]) for e in second] == [
        (s.owner_id, s.contact_id) for s in stream
    ]
    assert [e.occurred_at for e in first] == [s.occurred_at for s in stream]
    assert len({e.event_id for e in events}) == 25


def test_a_share_of_the_events_goes_to_the_read_owners() -> None:
    events = mixed._events(READ_OWNERS, seed=7, stream=_stream())(4000)
    read = [e for e in events if e.owner_id in READ_OWNERS]
    assert abs(len(read) / len(events) - mixed.READ_SHARE) < 0.02
    assert all(e.contact_id.startswith("mixed") for e in read)
