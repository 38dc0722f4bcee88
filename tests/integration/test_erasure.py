"""Erasure through real processes: forget, then a broker restart (the ingest outbox
replays everything), a state rebuild, an export and the training log read from it;
no trace of the forgotten person in the store file, the export, the training rows
or /metrics, and nothing of it served."""

from __future__ import annotations

import sqlite3
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest

from tests.harness import ServiceProcess, wait_until
from tests.integration.scoring_helpers import T0, contacts_of, interaction
from tests.integration.test_durable_broker import publish, restart_broker
from vinculo import tombstone_log
from vinculo.v1 import events_pb2 as ev
from vinculo.v1 import scoring_pb2, scoring_pb2_grpc
from vinculo_apps.cli import main
from vinculo_apps.devstack.broker import EmbeddedBroker
from vinculo_apps.training.dataset import EventLog

pytestmark = pytest.mark.integration

GONE = "xerxes-gone-7311"  # forgotten as a person
GONE_NAME = "Xerxes Quillfeather"
TRACES = (GONE.encode(), GONE_NAME.encode(), b"Quillfeather")


def history() -> list[ev.InteractionEvent]:
    """ana and bob know GONE; GONE has a network of their own; ana also knows carl."""
    named = {"contact_name": GONE_NAME}
    return [
        interaction("a1", "ana", GONE, T0 + 1, **named),
        interaction("a2", "ana", GONE, T0 + 2),
        interaction("a3", "ana", "bob", T0 + 3),
        interaction("a4", "ana", "carl", T0 + 4),
        interaction("b1", "bob", GONE, T0 + 5, **named),
        interaction("b2", "bob", "ana", T0 + 6),
        interaction("x1", GONE, "dana", T0 + 7),
        interaction("x2", GONE, "bob", T0 + 8),
    ]


def networks(address: str) -> dict[str, set[str]]:
    with grpc.insecure_channel(address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        people = ("ana", "bob", "carl", "dana", GONE)
        return {p: set(contacts_of(stub, p)) for p in people}


AFTER = {
    "ana": {"bob"},  # GONE erased as a person, carl as ana's contact
    "bob": {"ana"},
    "carl": {"ana"},  # carl's own network (the mirrored tie) is carl's data: kept
    "dana": set(),
    GONE: set(),
}


def store_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("scoring.sqlite3*")))


def caught_up(scoring: ServiceProcess, records: int) -> bool | None:
    return scoring.metric("vinculo_scoring_events_consumed_total") >= records or None


def test_forgotten_people_stay_forgotten_through_restart_rebuild_export_and_training(
    broker: EmbeddedBroker, ingest: ServiceProcess, tmp_path: Path
) -> None:
    events = history()
    publish(ingest.address, events)
    records = 2 * len(events)  # each event and its mirrored copy
    scoring = ServiceProcess("scoring_service", tmp_path / "scoring", broker.bootstrap)
    with ExitStack() as stack:
        stack.callback(scoring.stop)
        scoring.start()
        wait_until(lambda: networks(scoring.address)["ana"] == {GONE, "bob", "carl"} or None)
        assert GONE_NAME.encode() in store_bytes(scoring.data_dir)  # the name was stored
        channel = stack.enter_context(grpc.insecure_channel(scoring.address))
        watch = scoring_pb2_grpc.ScoringServiceStub(channel).WatchRelationships(
            scoring_pb2.WatchRelationshipsRequest(owner_id=GONE), timeout=60
        )
        wait_until(lambda: scoring.metric("vinculo_scoring_watch_streams") == 1 or None)
        scoring_flag = ["--scoring", scoring.address]
        assert main(["forget", "--owner", GONE, *scoring_flag]) == 0
        list(watch)  # the forgotten person's open stream ended (else: deadline exceeded)
        assert main(["forget", "--owner", "ana", "--contact", "carl", *scoring_flag]) == 0
        assert networks(scoring.address) == AFTER  # at once: the call waits for it
        # Old events published again (a re-import) stay dropped.
        publish(ingest.address, [interaction("x3", GONE, "ana", T0 + 9)])
        wait_until(lambda: caught_up(scoring, records + 2))
        assert networks(scoring.address) == AFTER
        url = f"http://127.0.0.1:{scoring.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as page:
            metrics = page.read().decode()
        assert not [t for t in TRACES if t.decode() in metrics]
    assert not [t for t in TRACES if t in store_bytes(scoring.data_dir)]
    # The ingest outbox (replayed into a broker that lost its log) is rewritten without them.
    outbox = ingest.data_dir / "ingest"  # its segment files (decision 11)

    def outbox_bytes() -> bytes:
        return b"".join(p.read_bytes() for p in sorted(outbox.glob("ingest-outbox.*.seg")))

    assert outbox_bytes()  # the segments are where the records are
    wait_until(lambda: not [t for t in TRACES if t in outbox_bytes()] or None)
    kept = 5  # a3 and b2 with their copies, and carl's copy of a4

    # The broker loses everything; the ingest outbox replays what it kept into it.
    # A restarted scoring service gives the tombstones back to the broker.
    restart_broker(broker, ingest, replays=1)
    try:
        scoring.start()
        wait_until(lambda: len(tombstone_log.read_all(broker.bootstrap, 10)) == 2 or None)
        wait_until(lambda: caught_up(scoring, kept))
        assert networks(scoring.address) == AFTER
    finally:
        scoring.stop()

    out = tmp_path / "exported.jsonl"
    assert main(["export", "--out", str(out), "--kafka-bootstrap", broker.bootstrap]) == 0
    exported = out.read_bytes()
    assert not [t for t in TRACES if t in exported]
    assert b'"carl"' not in exported  # ana's event with carl is gone too
    log = EventLog.read([out])
    pairs = {(e.owner, e.contact) for e in log.events}
    assert pairs == {("ana", "bob"), ("bob", "ana")}

    # A state rebuild from the whole (replayed) topic brings nothing back: made to
    # happen as after a state-schema upgrade (as tests/integration/test_durable_broker.py).
    with sqlite3.connect(scoring.data_dir / "scoring.sqlite3") as conn:
        conn.execute("UPDATE relationships SET schema_version = schema_version - 1")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'state_schema_version'")
    flags = ["--rebuild-state", "true", "--consumer-group", "vinculo-scoring-rebuilt"]
    scoring.extra_args = flags
    try:
        scoring.start()
        wait_until(lambda: caught_up(scoring, kept))
        assert networks(scoring.address) == AFTER
    finally:
        scoring.stop()
    assert not [t for t in TRACES if t in store_bytes(scoring.data_dir)]
    with sqlite3.connect(scoring.data_dir / "scoring.sqlite3") as conn:
        rows = conn.execute("SELECT owner, contact FROM relationships ORDER BY 1, 2").fetchall()
    assert rows == [("ana", "bob"), ("bob", "ana"), ("carl", "ana")]
