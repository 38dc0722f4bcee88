"""The scoring service alone, against a real broker: records produced straight to Kafka.

Each test starts the real service process (`python -m scoring_service`) and
talks to it over real gRPC; the store is read directly only to compare final
states byte for byte.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TypeVar

import grpc
import numpy as np
import pytest
from kafka import KafkaProducer

from scoring_service.codec import decode_states
from scoring_service.features.state import (
    ENGAGED_DAYS_START,
    STATE_SCHEMA_VERSION,
    TOTALS_START,
    S,
)
from tests.harness import ServiceProcess, read_topic, start_together, wait_until
from vinculo.topics import DEAD_LETTER_TOPIC, INTERACTIONS_TOPIC, ensure_topics
from vinculo.v1 import events_pb2 as ev
from vinculo.v1 import scoring_pb2 as pb
from vinculo.v1 import scoring_pb2_grpc
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

T0 = 1_750_000_000
T = TypeVar("T")


def interaction(
    event_id: str, owner: str, contact: str, t: float, **fields: object
) -> ev.InteractionEvent:
    values: dict[str, object] = {
        "type": ev.INTERACTION_TYPE_MESSAGE,
        "direction": ev.DIRECTION_OUTBOUND,
        "channel": "email",
        **fields,
    }
    event = ev.InteractionEvent(event_id=event_id, owner_id=owner, contact_id=contact, **values)  # type: ignore[arg-type]
    event.occurred_at.FromNanoseconds(int(t * 1e9))
    return event


@contextmanager
def producer(bootstrap: str) -> Iterator[KafkaProducer]:
    ensure_topics(bootstrap, 8)  # as the ingest service does: never the broker's default count
    kafka = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024)
    try:
        yield kafka
    finally:
        kafka.close()


def send_raw(kafka: KafkaProducer, key: bytes, value: bytes) -> None:
    headers = [("content-type", b"application/x-protobuf")]
    kafka.send(INTERACTIONS_TOPIC, key=key, value=value, headers=headers)


def send(kafka: KafkaProducer, events: Sequence[ev.InteractionEvent]) -> None:
    for event in events:
        send_raw(kafka, event.owner_id.encode(), event.SerializeToString())
    kafka.flush()


@contextmanager
def scoring_service(
    broker: EmbeddedBroker, data_dir: Path, *extra: str
) -> Iterator[ServiceProcess]:
    service = ServiceProcess("scoring_service", data_dir, broker.bootstrap, list(extra))
    try:
        yield service.start()
    finally:
        service.stop()


@contextmanager
def stub_for(service: ServiceProcess) -> Iterator[scoring_pb2_grpc.ScoringServiceStub]:
    with grpc.insecure_channel(service.address) as channel:
        yield scoring_pb2_grpc.ScoringServiceStub(channel)


def contacts_of(
    stub: scoring_pb2_grpc.ScoringServiceStub, owner: str
) -> dict[str, pb.Relationship]:
    try:
        reply = stub.ListRelationships(
            pb.ListRelationshipsRequest(owner_id=owner, page_size=1000), timeout=5
        )
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return {}
        raise
    return {r.contact_id: r for r in reply.relationships}


def contacts_once_served(
    stub: scoring_pb2_grpc.ScoringServiceStub, owner: str
) -> dict[str, pb.Relationship]:
    """`contacts_of`, with UNAVAILABLE read as "not yet": after a broker restart the
    group rejoins, and a partition being assigned answers UNAVAILABLE with a retry hint."""
    try:
        return contacts_of(stub, owner)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNAVAILABLE:
            return {}
        raise


def _read_store(data_dir: Path, query: str) -> list[tuple[object, ...]]:
    path = data_dir / "scoring.sqlite3"
    if not path.exists():
        return []
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        try:
            return db.execute(query).fetchall()
        except sqlite3.OperationalError:  # the service has not created its tables yet
            return []


def stored_offsets(data_dir: Path) -> int:
    """Sum of the next offsets in a service's store: records durably consumed."""
    rows = _read_store(data_dir, "SELECT coalesce(sum(next_offset), 0) FROM offsets")
    return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]


def stored_states(data_dir: Path) -> list[tuple[object, ...]]:
    """Every relationship row (owner, contact, state bytes, schema version), ordered."""
    return _read_store(
        data_dir,
        "SELECT owner, contact, state, schema_version FROM relationships ORDER BY owner, contact",
    )


# --- tests -------------------------------------------------------------------------


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


def workload(n: int, owners: int = 40, contacts: int = 25) -> list[ev.InteractionEvent]:
    """A deterministic mix of kinds and directions, with replies naming earlier messages."""
    kinds = [
        (ev.INTERACTION_TYPE_MESSAGE, ev.DIRECTION_OUTBOUND),
        (ev.INTERACTION_TYPE_MESSAGE, ev.DIRECTION_INBOUND),
        (ev.INTERACTION_TYPE_REPLY, ev.DIRECTION_INBOUND),
        (ev.INTERACTION_TYPE_COMMENT, ev.DIRECTION_OUTBOUND),
        (ev.INTERACTION_TYPE_REACTION, ev.DIRECTION_INBOUND),
        (ev.INTERACTION_TYPE_CALL, ev.DIRECTION_OUTBOUND),
        (ev.INTERACTION_TYPE_MEETING_IN_PERSON, ev.DIRECTION_MUTUAL),
    ]
    events: list[ev.InteractionEvent] = []
    last_message: dict[tuple[str, str], str] = {}
    for i in range(n):
        owner, contact = f"owner-{i % owners}", f"contact-{(i // owners) % contacts}"
        kind, direction = kinds[(i // owners) % len(kinds)]
        extra: dict[str, object] = {"personalized": i % 3 == 0}
        if kind == ev.INTERACTION_TYPE_REPLY and (owner, contact) in last_message:
            extra["in_reply_to"] = last_message[(owner, contact)]
        event_id = f"w{i}"
        if kind == ev.INTERACTION_TYPE_MESSAGE and direction == ev.DIRECTION_OUTBOUND:
            last_message[(owner, contact)] = event_id
        events.append(
            interaction(
                event_id, owner, contact, T0 + 37 * i, type=kind, direction=direction, **extra
            )
        )
    return events


def test_sigkill_mid_stream_then_restart_ends_in_the_uninterrupted_state(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    events = workload(24_000)
    warmup, streamed, after = events[:4_000], events[4_000:16_000], events[16_000:]
    reference_dir, crashed_dir = tmp_path / "reference", tmp_path / "crashed"
    # Two consumer groups: each instance consumes every record.
    reference = ServiceProcess(
        "scoring_service", reference_dir, broker.bootstrap, ["--consumer-group", "reference"]
    )
    crashing = ServiceProcess(
        "scoring_service", crashed_dir, broker.bootstrap, ["--consumer-group", "crashing"]
    )
    try:
        with producer(broker.bootstrap) as kafka:
            send(kafka, warmup)
            start_together(reference, crashing)
            wait_until(lambda: stored_offsets(crashed_dir) == len(warmup), what="the warm-up")
            # The kill lands while records stream in, however fast consumption is:
            # right after a send returns, before the consumer can have stored it all.
            for chunk in range(0, len(streamed), 500):
                send(kafka, streamed[chunk : chunk + 500])
            crashing.kill()
            at_kill = stored_offsets(crashed_dir)
            assert at_kill < len(warmup) + len(streamed), "the kill came after every record"
            send(kafka, after)
        crashing.start()
        for data_dir in (reference_dir, crashed_dir):
            wait_until(
                lambda d=data_dir: stored_offsets(d) == len(events),  # type: ignore[misc]
                timeout_s=60,
                what=f"all records consumed into {data_dir.name}",
            )
    finally:
        crashing.stop()
        reference.stop()
    expected, actual = stored_states(reference_dir), stored_states(crashed_dir)
    assert len(expected) == 40 * 25
    assert [row[:2] + row[3:] for row in actual] == [row[:2] + row[3:] for row in expected]
    # Nothing lost, nothing twice: counts and times equal exactly; decayed sums up to
    # rounding, because each poll's events are folded at once and the two instances'
    # polls split the stream in other places.
    expected_states, actual_states = (
        decode_states([row[2] for row in rows])  # type: ignore[misc]
        for rows in (expected, actual)
    )
    exact = [i for i in range(TOTALS_START, ENGAGED_DAYS_START) if i != S["RESPONSE_LOG_SUM"]]
    np.testing.assert_array_equal(actual_states[:, exact], expected_states[:, exact])
    np.testing.assert_allclose(actual_states, expected_states, rtol=1e-12, atol=0)


def test_broker_losing_its_log_does_not_stop_consumption(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    data_dir = tmp_path / "scoring"
    # Two records for each of 100 owners: every partition's stored offset ends
    # beyond what the restarted, empty broker will hold.
    before = [
        interaction(f"b{i}-{j}", f"owner-{i}", "bea", T0 + j) for i in range(100) for j in range(2)
    ]
    # The group's rejoin after the restart is the subject: the production session timeout,
    # not the harness's 2 s (which a loaded CI can outlast while rejoining).
    production_session = ("--session-timeout-ms", "6000")
    with (
        scoring_service(broker, data_dir, *production_session) as service,
        stub_for(service) as stub,
    ):
        with producer(broker.bootstrap) as kafka:
            send(kafka, before)
        wait_until(lambda: stored_offsets(data_dir) == len(before), what="the first records")
        broker.stop()
        broker.start()  # same port, nothing kept: topics, records and group offsets are gone
        # As `vinculo up` does after a broker restart: the topics with their count, before
        # this test's producer makes Tansu create them with its default 4 (a race under load).
        ensure_topics(broker.bootstrap, 8)
        with producer(broker.bootstrap) as kafka:
            send(kafka, [interaction("after-1", "owner-7", "zed", T0 + 10)])
            wait_until(  # reconnect backoff + group rejoin: ~10 s alone, 45+ s on a loaded CI
                lambda: "zed" in contacts_once_served(stub, "owner-7"),
                timeout_s=120,
                what="an event sent after the broker restart",
            )
        assert "bea" in contacts_of(stub, "owner-7")  # state from before is kept
        assert service.metric("vinculo_scoring_log_resets_total") >= 1

    # Lost again while the service is down, then refilled past the stored
    # offsets: only the topic's new id tells the new log from the old one.
    broker.stop()
    broker.start()
    refill = [interaction(f"r{j}", "owner-7", f"new-{j}", T0 + j) for j in range(60)]
    with producer(broker.bootstrap) as kafka:
        send(kafka, refill)
    with (
        scoring_service(broker, data_dir, *production_session) as service,
        stub_for(service) as stub,
    ):
        wait_until(
            lambda: (
                len([c for c in contacts_once_served(stub, "owner-7") if c.startswith("new-")])
                == 60
            ),
            timeout_s=45,
            what="every record of the refilled log",
        )


def test_state_of_an_older_schema_is_refused_then_rebuilt_from_the_log(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """The upgrade path of a state layout change: the service will not misread old state;
    it exits 2 naming the setting, and with the setting re-consumes the topic."""
    data_dir = tmp_path / "scoring"
    events = [
        interaction(f"u{j}", "ana", f"c{j % 5}", T0 + j, direction=ev.DIRECTION_INBOUND)
        for j in range(30)
    ]
    with scoring_service(broker, data_dir):
        with producer(broker.bootstrap) as kafka:
            send(kafka, events)
        wait_until(lambda: stored_offsets(data_dir) == len(events), what="every record stored")
    old = STATE_SCHEMA_VERSION - 1
    with closing(sqlite3.connect(data_dir / "scoring.sqlite3")) as db:
        db.execute("UPDATE relationships SET schema_version = ?", (old,))
        db.execute("UPDATE meta SET value = ? WHERE key = 'state_schema_version'", (str(old),))
        db.commit()

    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "scoring_service",
            "--kafka-bootstrap",
            broker.bootstrap,
            "--data-dir",
            str(data_dir),
            *("--grpc-port", "0", "--metrics-port", "0"),  # it exits before binding
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("VINCULO_")},
    )
    assert refused.returncode == 2
    assert f"schema version(s) [{old}]" in refused.stderr
    assert "VINCULO_SCORING_REBUILD_STATE" in refused.stderr

    rebuilding = scoring_service(broker, data_dir, "--rebuild-state", "true")
    with rebuilding as service, stub_for(service) as stub:
        wait_until(lambda: len(contacts_of(stub, "ana")) == 5, what="state rebuilt from the log")
    versions = {row[3] for row in stored_states(data_dir)}
    assert versions == {STATE_SCHEMA_VERSION}
