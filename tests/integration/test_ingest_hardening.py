"""Bad input at the ingest service, through its gRPC port, with a real broker (issue 22).

Event ids of mirrored copies (1), timestamps out of range and an export over a
bad record (3), identifiers (4), unknown protobuf fields (5).
"""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from pathlib import Path

import grpc
import pytest
from kafka import KafkaProducer

from tests.harness import ServiceProcess, read_topic, wait_until
from tests.integration.scoring_helpers import contacts_of, interaction
from tests.integration.test_ingest import ACCEPTED, REJECTED, TOPIC, event, publish
from vinculo.v1 import events_pb2 as pb
from vinculo.v1 import ingest_pb2, scoring_pb2_grpc
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration


def test_an_own_event_id_equal_to_a_mirrored_copys_is_applied_in_both_views(
    ingest: ServiceProcess, scoring: ServiceProcess
) -> None:
    # ana's message x-9 reaches luis's network as a copy; luis's own meeting x-9 must
    # not be taken for it (today it was ACCEPTED and never applied).
    ana_message = event("x-9", owner="ana", contact="luis")
    luis_meeting = interaction(
        "x-9",
        "luis",
        "ana",
        ana_message.occurred_at.seconds + 60,
        type=pb.INTERACTION_TYPE_MEETING_IN_PERSON,
        direction=pb.DIRECTION_MUTUAL,
    )
    assert [r.status for r in publish(ingest, [ana_message])] == [ACCEPTED]
    assert [r.status for r in publish(ingest, [luis_meeting])] == [ACCEPTED]
    # A producer cannot take the copies' namespace for an event of its own.
    forged = publish(ingest, [event("~ana/x-9", owner="luis", contact="ana")])
    assert forged[0].status == REJECTED and forged[0].reason_code == "reserved_event_id"
    assert forged[0].reason.startswith("event_id:")

    with grpc.insecure_channel(scoring.address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)

        def both_views() -> dict[str, dict[str, tuple[int, int, int]]] | None:
            views = {}
            for owner, contact in (("ana", "luis"), ("luis", "ana")):
                relationship = contacts_of(stub, owner).get(contact)
                if relationship is None:
                    return None
                views[owner] = {
                    c.kind: (c.outbound, c.inbound, c.mutual) for c in relationship.signals.counts
                }
            met = all(v.get("meeting_in_person") == (0, 0, 1) for v in views.values())
            return views if met else None

        views = wait_until(both_views, timeout_s=60, what="the meeting in both views")
    assert views["ana"]["message"] == (1, 0, 0)
    assert views["luis"]["message"] == (0, 1, 0)


def test_timestamps_out_of_range_are_rejected_naming_the_field(ingest: ServiceProcess) -> None:
    bad = {"n-neg": (None, -1), "n-big": (None, 2 * 10**9), "n-min": (None, -(2**31))}
    bad |= {"s-big": (2**62, 0), "s-neg": (-(2**40), 0), "s-max": (253_402_300_800, 0)}
    events = []
    for event_id, (seconds, nanos) in bad.items():
        e = event(event_id)
        if seconds is not None:
            e.occurred_at.seconds = seconds
        e.occurred_at.nanos = nanos
        events.append(e)
    results = publish(ingest, [*events, event("fine")])
    assert [r.status for r in results] == [REJECTED] * len(bad) + [ACCEPTED]
    for result in results[: len(bad)]:
        assert result.reason.startswith("occurred_at"), result.reason
    assert results[0].reason == "occurred_at.nanos: -1 not in [0, 999999999]"
    assert results[3].reason_code == "bad_occurred_at"


def test_export_leaves_out_a_bad_record_already_in_the_topic_and_says_so(
    broker: EmbeddedBroker, ingest: ServiceProcess, tmp_path: Path
) -> None:
    assert [r.status for r in publish(ingest, [event("good")])] == [ACCEPTED]
    # Written before the rule existed, or by another producer: nanos out of range.
    bad = event("bad", owner="bea", contact="carla", owner_only=True)
    bad.occurred_at.nanos = 2 * 10**9
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    try:
        producer.send(TOPIC, bad.SerializeToString(), b"bea").get(timeout=30)
    finally:
        producer.close()
    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "vinculo_apps.cli", "export", "--out", str(out)]
    done = subprocess.run(
        [*command, "--kafka-bootstrap", broker.bootstrap],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "exported 1 events" in done.stdout
    assert "1 records could not be read and were left out" in done.stdout
    assert "Traceback" not in done.stderr
    assert [line for line in out.read_text().splitlines() if '"good"' in line]
    assert not out.with_name(out.name + ".partial").exists()


BAD_CHARACTERS = [
    ("channel", "linked\x00in", "U+0000"),
    ("channel", "\x1b[31mred", "U+001B"),
    ("contact_id", "bea\x7f", "U+007F"),
    ("contact_id", "bea\x85", "U+0085"),
    ("contact_id", "\u202eaeb", "U+202E"),
    ("event_id", "e\u200b1", "U+200B"),
    ("owner_id", "ana\u2028", "U+2028"),
    ("in_reply_to", "e\ufeff0", "U+FEFF"),
]


def test_invisible_and_control_characters_are_rejected_naming_them(
    ingest: ServiceProcess,
) -> None:
    events = []
    for i, (field, value, _) in enumerate(BAD_CHARACTERS):
        bad = event(f"e{i}")
        setattr(bad, field, value)
        events.append(bad)
    results = publish(ingest, events)
    assert [r.status for r in results] == [REJECTED] * len(BAD_CHARACTERS)
    for (field, _, shown), result in zip(BAD_CHARACTERS, results, strict=True):
        assert result.reason.startswith(f"{field}: contains {shown}"), result.reason


def test_an_id_typed_in_nfc_or_nfd_is_one_contact(
    broker: EmbeddedBroker, ingest: ServiceProcess
) -> None:
    nfc, nfd = unicodedata.normalize("NFC", "josé"), unicodedata.normalize("NFD", "josé")
    assert nfc != nfd
    results = publish(ingest, [event("e1", contact=nfc), event("e2", contact=nfd)])
    assert [r.status for r in results] == [ACCEPTED, ACCEPTED]
    # An NFD repeat of an NFC event id is the same event.
    assert publish(ingest, [event(nfd, contact=nfc)])[0].status == ACCEPTED
    assert publish(ingest, [event(nfc, contact=nfd)])[0].status == ingest_pb2.EVENT_STATUS_DUPLICATE
    records = read_topic(broker.bootstrap, TOPIC, 6)
    decoded = [pb.InteractionEvent.FromString(r.value) for r in records]
    assert {r.key.decode() for r in records} == {"ana", nfc}
    assert {e.contact_id for e in decoded if e.owner_id == "ana"} == {nfc}


def test_unknown_fields_are_dropped_before_publishing(
    broker: EmbeddedBroker, ingest: ServiceProcess
) -> None:
    known = event("e1")
    extra = b"\xa2\x06\x10" + b"x" * 16  # field 100, 16 bytes: unknown to this API
    inner = b"\xb8\x01\x07"  # field 23 inside the Timestamp
    stamp = known.occurred_at.SerializeToString() + inner
    raw_event = known.SerializeToString() + extra + b"\x32" + bytes([len(stamp)]) + stamp
    request = b"\x0a" + bytes([len(raw_event)]) + raw_event + extra
    with grpc.insecure_channel(ingest.address) as channel:
        call = channel.unary_unary(
            "/vinculo.v1.IngestService/PublishEvents",
            request_serializer=lambda raw: raw,
            response_deserializer=ingest_pb2.PublishEventsResponse.FromString,
        )
        reply = call(request, timeout=30)
    assert [r.status for r in reply.results] == [ACCEPTED]
    records = read_topic(broker.bootstrap, TOPIC, 2)
    assert len(records) == 2
    original = next(r for r in records if r.key == b"ana")
    assert original.value == known.SerializeToString()
    assert all(b"x" * 16 not in r.value and inner not in r.value for r in records)
