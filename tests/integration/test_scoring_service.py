"""The scoring service alone, against a real broker: records produced straight to Kafka.

Each test starts the real service process (`python -m scoring_service`) and
talks to it over real gRPC; the store is read directly only to compare final
states byte for byte.
"""

from __future__ import annotations

import signal
from pathlib import Path

import grpc
import pytest

from tests.harness import read_topic, wait_until
from tests.integration.scoring_helpers import (
    T0,
    contacts_of,
    interaction,
    producer,
    scoring_service,
    send,
    send_raw,
    stub_for,
)
from vinculo.topics import DEAD_LETTER_TOPIC, INTERACTIONS_TOPIC
from vinculo.v1 import events_pb2 as ev
from vinculo.v1 import scoring_pb2 as pb
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration


def test_events_are_ranked_and_duplicates_change_nothing(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    events = [
        interaction("a1", "ana", "bea", T0, personalized=True),
        interaction(
            "a2",
            "ana",
            "bea",
            T0 + 600,
            type=ev.INTERACTION_TYPE_REPLY,
            direction=ev.DIRECTION_INBOUND,
            in_reply_to="a1",
        ),
        interaction(
            "a3",
            "ana",
            "bea",
            T0 + 86_400,
            type=ev.INTERACTION_TYPE_MEETING_IN_PERSON,
            direction=ev.DIRECTION_MUTUAL,
            duration_seconds=3600,
        ),
        interaction("a4", "ana", "cid", T0, type=ev.INTERACTION_TYPE_REACTION),
    ]
    with (
        scoring_service(broker, tmp_path / "scoring") as service,
        stub_for(service) as stub,
        producer(broker.bootstrap) as kafka,
    ):
        send(kafka, events)
        ranking = wait_until(
            lambda: len(contacts_of(stub, "ana")) == 2 and contacts_of(stub, "ana"),
            what="both relationships ranked",
        )
        bea = ranking["bea"]
        assert bea.score > ranking["cid"].score
        assert bea.signals.in_person_meetings == 1 and bea.signals.outreach_answered == 1
        listed = stub.ListRelationships(pb.ListRelationshipsRequest(owner_id="ana"))
        assert [r.contact_id for r in listed.relationships] == ["bea", "cid"]
        got = stub.GetRelationship(pb.GetRelationshipRequest(owner_id="ana", contact_id="bea"))
        assert got.relationship.signals == bea.signals and got.model_version
        # Operators see which model serves and what window its scores predict.
        model_labels = {"version": got.model_version, "horizon_days": "90"}
        assert service.metric("vinculo_model_info", **model_labels) == 1

        # The same record again, then a marker event: once the marker is in, the
        # duplicate was consumed too (same partition, same owner, in order).
        send(kafka, [events[2], interaction("a5", "ana", "dan", T0)])
        wait_until(lambda: "dan" in contacts_of(stub, "ana"), what="the marker event")
        again = contacts_of(stub, "ana")["bea"]
        assert again.signals == bea.signals
        assert service.metric("vinculo_scoring_events_duplicate_total") == 1

        # The same id with a newer time (a client that re-stamps retries) passes the
        # cheap check; the commit refuses it and the batch is consumed again strictly.
        restamped = interaction("a3", "ana", "bea", T0 + 90_000, type=ev.INTERACTION_TYPE_CALL)
        send(kafka, [restamped, interaction("a6", "ana", "eve", T0)])
        wait_until(lambda: "eve" in contacts_of(stub, "ana"), what="the marker after a3 again")
        assert contacts_of(stub, "ana")["bea"].signals == bea.signals
        assert service.metric("vinculo_scoring_events_duplicate_total") == 2
        assert service.metric("vinculo_scoring_batch_replays_total") == 1
        with pytest.raises(grpc.RpcError) as info:
            stub.GetNetworkSummary(pb.GetNetworkSummaryRequest(owner_id="nobody"))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND

        assert service.process is not None
        service.process.send_signal(signal.SIGTERM)
        assert service.process.wait(15) == 0
    log = service.log_text()
    assert f"gRPC listening on 127.0.0.1:{service.grpc_port}" in log
    assert f"metrics on http://127.0.0.1:{service.metrics_port}/metrics" in log
    assert "stopped cleanly" in log


def test_poison_records_are_dead_lettered_and_later_events_scored(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    invalid = interaction("p2", "ana", "ana", T0)  # a self-relationship
    with (
        scoring_service(broker, tmp_path / "scoring") as service,
        stub_for(service) as stub,
        producer(broker.bootstrap) as kafka,
    ):
        send_raw(kafka, b"ana", b"\x08\xff\xff\xff not protobuf")
        send_raw(kafka, b"ana", invalid.SerializeToString())
        send(kafka, [interaction("p3", "ana", "bea", T0)])
        wait_until(lambda: "bea" in contacts_of(stub, "ana"), what="the event after the poison")
        letters = read_topic(broker.bootstrap, DEAD_LETTER_TOPIC, 2, timeout_s=15)
    assert len(letters) == 2
    by_code = {dict(r.headers)["vinculo-reason-code"].decode(): r for r in letters}  # type: ignore[attr-defined]
    assert set(by_code) == {"undecodable", "self_relationship"}
    self_rel = by_code["self_relationship"]
    headers = dict(self_rel.headers)  # type: ignore[attr-defined]
    assert headers["vinculo-reason"].decode().startswith("contact_id:")
    assert headers["vinculo-source-topic"] == INTERACTIONS_TOPIC.encode()
    assert int(headers["vinculo-source-offset"]) >= 0
    assert self_rel.key == b"ana" and self_rel.value == invalid.SerializeToString()  # type: ignore[attr-defined]
