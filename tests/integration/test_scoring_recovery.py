"""The scoring service recovering, against a real broker: from a SIGKILL mid-stream, from
a broker that lost its log, from a store of an older state schema (the store is read
directly to compare states byte for byte)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from scoring_service.codec import decode_states
from scoring_service.features.state import (
    ENGAGED_DAYS_START,
    STATE_SCHEMA_VERSION,
    TOTALS_START,
    S,
)
from tests.harness import ServiceProcess, start_together, wait_until
from tests.integration.scoring_helpers import (
    T0,
    contacts_of,
    contacts_once_served,
    interaction,
    producer,
    scoring_service,
    send,
    stored_offsets,
    stored_states,
    stub_for,
    workload,
)
from vinculo.topics import ensure_topics
from vinculo.v1 import events_pb2 as ev
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration


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
