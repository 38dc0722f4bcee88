"""The broker alone dies (twice): every acknowledged event is scored once, exported
once, and a state rebuild afterwards keeps every relationship. Real processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from tests.harness import ServiceProcess, wait_until
from tests.integration.scoring_helpers import T0, contacts_of, interaction
from tests.integration.test_export import canonical
from vinculo.v1 import events_pb2 as pb
from vinculo.v1 import ingest_pb2, ingest_pb2_grpc, scoring_pb2_grpc
from vinculo_apps.cli import main
from vinculo_apps.devstack.broker import EmbeddedBroker
from vinculo_apps.importers.common import SkipLog
from vinculo_apps.importers.files import read_events

pytestmark = pytest.mark.integration

OWNERS = ("gil", "hana")
CONTACTS = ("ivo", "jo", "kai")


def events(prefix: str, n: int) -> list[pb.InteractionEvent]:
    return [interaction(f"{prefix}-{i}", OWNERS[i % 2], CONTACTS[i % 3], T0 + i) for i in range(n)]


def publish(address: str, batch: list[pb.InteractionEvent]) -> None:
    """As a client does: retry on UNAVAILABLE (the ingest reconnects to a restarted broker)."""

    def attempt() -> ingest_pb2.PublishEventsResponse | None:
        with grpc.insecure_channel(address) as channel:
            try:
                return ingest_pb2_grpc.IngestServiceStub(channel).PublishEvents(
                    ingest_pb2.PublishEventsRequest(events=batch), timeout=30
                )
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                return None

    reply = wait_until(attempt, timeout_s=60, what="the batch acknowledged")
    assert {r.status for r in reply.results} == {ingest_pb2.EVENT_STATUS_ACCEPTED}


def message_counts(address: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(owner, contact) -> (outbound, inbound) messages, over both sides of every tie."""
    counts = {}
    with grpc.insecure_channel(address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        for owner in (*OWNERS, *CONTACTS):
            for contact, rel in contacts_of(stub, owner).items():
                kinds = {c.kind: (c.outbound, c.inbound) for c in rel.signals.counts}
                counts[owner, contact] = kinds.get("message", (0, 0))
    return counts


def restart_broker(broker: EmbeddedBroker, ingest: ServiceProcess, replays: int) -> None:
    """SIGKILL the broker, start an empty one on the same port, wait for the replay."""
    assert broker.process is not None
    broker.process.kill()
    broker.process.wait()
    broker.stop()
    broker.start()
    wait_until(
        lambda: ingest.log_path.read_text().count("replayed ") >= replays or None,
        timeout_s=60,
        what=f"ingest's replay #{replays}",
    )


def expected_counts(batch: list[pb.InteractionEvent]) -> dict[tuple[str, str], tuple[int, int]]:
    """Each side of each tie counts every event once."""
    expected: dict[tuple[str, str], tuple[int, int]] = {}
    for e in batch:
        out = expected.get((e.owner_id, e.contact_id), (0, 0))
        expected[e.owner_id, e.contact_id] = (out[0] + 1, out[1])
        back = expected.get((e.contact_id, e.owner_id), (0, 0))
        expected[e.contact_id, e.owner_id] = (back[0], back[1] + 1)
    return expected


def test_broker_restarts_lose_nothing_and_rebuild_keeps_every_relationship(
    broker: EmbeddedBroker, ingest: ServiceProcess, tmp_path: Path
) -> None:
    first, second = events("a", 120), events("b", 90)
    publish(ingest.address, first)
    # A scoring service builds state from the first events, then stops: while one
    # runs, its metadata requests can make the restarted embedded broker auto-create
    # the topic with 4 partitions (NOTES.md), which it then refuses (TopicShapeError).
    scoring = ServiceProcess("scoring_service", tmp_path / "scoring", broker.bootstrap)
    try:
        scoring.start()
        wait_until(
            lambda: message_counts(scoring.address) == expected_counts(first) or None,
            timeout_s=60,
            what="the first events scored",
        )
    finally:
        scoring.stop()
    restart_broker(broker, ingest, replays=1)
    publish(ingest.address, second)
    restart_broker(broker, ingest, replays=2)
    expected = expected_counts(first + second)

    out = tmp_path / "exported.jsonl"
    assert main(["export", "--out", str(out), "--kafka-bootstrap", broker.bootstrap]) == 0
    assert canonical(list(read_events(out, None, SkipLog()))) == canonical(first + second)

    # A state-schema upgrade after the broker restarts: the rebuild reads it all back.
    database = scoring.data_dir / "scoring.sqlite3"
    with sqlite3.connect(database) as conn:  # pretend the rows are of an older layout
        conn.execute("UPDATE relationships SET schema_version = schema_version - 1")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'state_schema_version'")
    # A group of its own: the old group's join on the restarted embedded broker hung
    # in this test (seen 65 s, no assignment); the store, not the group, holds offsets.
    flags = ["--rebuild-state", "true", "--consumer-group", "vinculo-scoring-rebuilt"]
    rebuilt = ServiceProcess("scoring_service", scoring.data_dir, broker.bootstrap, flags)
    try:
        rebuilt.start()
        wait_until(
            lambda: message_counts(rebuilt.address) == expected or None,
            timeout_s=60,
            what="every relationship rebuilt",
        )
    finally:
        rebuilt.stop()


def test_a_rebuild_that_would_read_less_history_is_refused(
    broker: EmbeddedBroker, ingest: ServiceProcess, scoring: ServiceProcess, tmp_path: Path
) -> None:
    publish(ingest.address, events("c", 30))
    wait_until(lambda: len(message_counts(scoring.address)) == 12 or None, what="30 scored")
    scoring.stop()
    database = scoring.data_dir / "scoring.sqlite3"
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'state_schema_version'")
    with EmbeddedBroker(log_path=tmp_path / "empty-broker.log") as empty:  # no history there
        done = subprocess.run(
            [
                *(sys.executable, "-m", "scoring_service", "--data-dir", str(scoring.data_dir)),
                *("--kafka-bootstrap", empty.bootstrap, "--grpc-port", "0"),
                *("--metrics-port", "0", "--rebuild-state", "true", "--rebuild-wait-s", "2"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert "refusing to rebuild" in done.stderr + done.stdout
    with sqlite3.connect(database) as conn:  # nothing was dropped
        (kept,) = conn.execute("SELECT COUNT(*) FROM relationships").fetchone()
    assert kept == 12
