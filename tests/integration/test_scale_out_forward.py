"""Page tokens and WatchRelationships across a forward (issue "Scale out", point 1).

Two scoring instances of one group on the embedded broker: every owner is held
by one of them and forwarded by the other. A ranking paged through both
instances in turn (each page's token handed to the other instance) is the same
ranking as one page; a watch stream opened on the instance that forwards gets
the same change as one opened on the holder.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest
from kafka import KafkaProducer

from tests.harness import ServiceProcess, wait_until
from tests.integration.scale_out_data import AS_OF, T0, scoring_instance
from vinculo.timestamps import set_seconds
from vinculo.topics import INTERACTIONS_TOPIC, ensure_topics
from vinculo.v1 import events_pb2 as ev
from vinculo.v1 import scoring_pb2 as pb
from vinculo.v1 import scoring_pb2_grpc
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

OWNERS = [f"paged-{i}" for i in range(6)]
CONTACTS = 23
PAGE = 7
COMMITTED = "vinculo_scoring_events_committed_total"
FORWARDED = "vinculo_scoring_forwarded_calls_total"
WATCHES = "vinculo_scoring_watch_streams"


def events(owner: str, contacts: range) -> Iterator[ev.InteractionEvent]:
    for c in contacts:
        for k in range(c % 4 + 1):
            event = ev.InteractionEvent(
                event_id=f"{owner}-{c}-{k}",
                owner_id=owner,
                contact_id=f"contact-{c}",
                type=ev.INTERACTION_TYPE_MESSAGE,
                direction=ev.DIRECTION_INBOUND if k % 2 else ev.DIRECTION_OUTBOUND,
                channel="email",
                owner_only=True,
            )
            set_seconds(event.occurred_at, T0 + 3600.0 * (c * 5 + k))
            yield event


def publish(bootstrap: str, batch: list[ev.InteractionEvent]) -> int:
    ensure_topics(bootstrap, 8)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    try:
        for event in batch:
            producer.send(
                INTERACTIONS_TOPIC, key=event.owner_id.encode(), value=event.SerializeToString()
            )
        producer.flush()
    finally:
        producer.close()
    return len(batch)


def page(address: str, owner: str, token: str, size: int) -> pb.ListRelationshipsResponse:
    with grpc.insecure_channel(address) as channel:
        request = pb.ListRelationshipsRequest(owner_id=owner, page_size=size, page_token=token)
        set_seconds(request.as_of, AS_OF)
        reply: pb.ListRelationshipsResponse = scoring_pb2_grpc.ScoringServiceStub(
            channel
        ).ListRelationships(request, timeout=10)
        return reply


def paged_through(addresses: list[str], owner: str) -> list[str]:
    """Contact ids of every page, each page asked of the next instance in turn."""
    contacts: list[str] = []
    token = ""
    for n in range(CONTACTS):  # bounded: at most one page per contact
        reply = page(addresses[n % len(addresses)], owner, token, PAGE)
        contacts += [r.contact_id for r in reply.relationships]
        token = reply.next_page_token
        if not token:
            return contacts
    raise AssertionError(f"more pages than contacts for {owner}")


@pytest.fixture
def pair(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[list[ServiceProcess]]:
    with ExitStack() as stack:
        instances = [scoring_instance(broker, tmp_path / f"i-{n}", "paged") for n in range(2)]
        for instance in instances:
            stack.callback(instance.stop)
            instance.start()
        sent = publish(broker.bootstrap, [e for o in OWNERS for e in events(o, range(CONTACTS))])
        wait_until(
            lambda: sum(i.metric(COMMITTED) for i in instances) == sent,
            timeout_s=60,
            what="the group scored every event",
        )
        yield instances


def test_page_tokens_work_across_a_forward(pair: list[ServiceProcess]) -> None:
    addresses = [i.address for i in pair]
    for owner in OWNERS:
        whole = [r.contact_id for r in page(addresses[0], owner, "", 100).relationships]
        assert len(whole) == CONTACTS
        assert [r.contact_id for r in page(addresses[1], owner, "", 100).relationships] == whole
        assert paged_through(addresses, owner) == whole, owner
        assert paged_through(addresses[::-1], owner) == whole, owner
    # Both held some owners and forwarded the others' pages.
    assert all(i.metric(FORWARDED) > 0 for i in pair)


def test_a_watch_stream_opened_on_the_forwarding_instance_gets_the_change(
    broker: EmbeddedBroker, pair: list[ServiceProcess]
) -> None:
    owner = OWNERS[0]
    before = [i.metric(FORWARDED) for i in pair]
    for instance in pair:
        page(instance.address, owner, "", 1)
    forwarder = 0 if pair[0].metric(FORWARDED) > before[0] else 1
    holder = pair[1 - forwarder]
    seen: dict[str, list[str]] = {"direct": [], "forwarded": []}
    channels = {"direct": grpc.insecure_channel(holder.address),
                "forwarded": grpc.insecure_channel(pair[forwarder].address)}  # fmt: skip
    streams = {
        kind: scoring_pb2_grpc.ScoringServiceStub(channel).WatchRelationships(
            pb.WatchRelationshipsRequest(owner_id=owner), timeout=90
        )
        for kind, channel in channels.items()
    }

    errors: list[grpc.RpcError] = []

    def read(kind: str) -> None:
        try:
            for change in streams[kind]:
                seen[kind].append(change.contact_id)
                if change.contact_id == "contact-new":
                    return
        except grpc.RpcError as exc:  # kept: only the test's own cancel is expected
            if exc.code() != grpc.StatusCode.CANCELLED:
                errors.append(exc)

    readers = [threading.Thread(target=read, args=(kind,)) for kind in streams]
    try:
        for reader in readers:
            reader.start()
        wait_until(lambda: holder.metric(WATCHES) == 2, timeout_s=30, what="both streams open")
        publish(broker.bootstrap, [_new_contact(owner)])
        wait_until(
            lambda: all("contact-new" in s for s in seen.values()),
            timeout_s=60,
            what="both streams saw the new contact",
        )
    finally:
        for stream in streams.values():
            stream.cancel()
        for reader in readers:
            reader.join(10)
        for channel in channels.values():
            channel.close()
    assert not errors, errors


def _new_contact(owner: str) -> ev.InteractionEvent:
    event = ev.InteractionEvent(
        event_id=f"{owner}-new",
        owner_id=owner,
        contact_id="contact-new",
        type=ev.INTERACTION_TYPE_MESSAGE,
        direction=ev.DIRECTION_OUTBOUND,
        channel="email",
        owner_only=True,
    )
    set_seconds(event.occurred_at, T0 + 3600.0 * 200)
    return event
