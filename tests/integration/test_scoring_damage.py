"""Issue 22 point 2, through real processes: damaged stored state is never served.

A row whose bytes changed answers DATA_LOSS; a restart on a store with damaged
rows or a zero-length file stops with what to do; `--rebuild-state` rebuilds
every relationship from the log, identical to before.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import grpc
import pytest

from tests.harness import ServiceProcess, wait_until
from tests.integration.scoring_helpers import T0, scoring_service, stub_for
from tests.integration.test_scoring_faults import all_scored, owners_batch, send_batch
from vinculo.timestamps import set_seconds
from vinculo.v1 import scoring_pb2 as pb
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

AS_OF = 1_750_100_000.0  # a fixed instant: scores comparable across restarts, no cache


def scores(service: ServiceProcess, owner: str) -> dict[str, float]:
    request = pb.ListRelationshipsRequest(owner_id=owner, page_size=1000)
    set_seconds(request.as_of, AS_OF)
    with stub_for(service) as stub:
        reply = stub.ListRelationships(request, timeout=10)
    return {r.contact_id: r.score for r in reply.relationships}


def network(service: ServiceProcess, owners: list[str]) -> dict[str, dict[str, float]]:
    return {owner: scores(service, owner) for owner in owners}


def rebuilt(service: ServiceProcess, truth: dict[str, dict[str, float]]) -> bool:
    """Every owner back with exactly the scores it had (NOT_FOUND while still consuming)."""
    try:
        return network(service, sorted(truth)) == truth
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return False


def damage_one_row(store: Path, owner: str) -> None:
    """Flip bits inside one stored state, leaving its checksum as it was."""
    with closing(sqlite3.connect(store, isolation_level=None, timeout=30)) as db:
        contact, state = db.execute(
            "SELECT contact, state FROM relationships WHERE owner = ? LIMIT 1", (owner,)
        ).fetchone()
        flipped = bytes([state[0], state[1] ^ 0x5A, *state[2:]])
        db.execute(
            "UPDATE relationships SET state = ? WHERE owner = ? AND contact = ?",
            (flipped, owner, contact),
        )


def refused_start(broker: EmbeddedBroker, data_dir: Path) -> str:
    """Start the service on a damaged store: it must exit 2 and say why; its output."""
    args = [sys.executable, "-m", "scoring_service", "--grpc-port", "0", "--metrics-port", "0"]
    args += ["--kafka-bootstrap", broker.bootstrap, "--data-dir", str(data_dir)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_damaged_rows_and_an_empty_store_are_refused_then_rebuilt_from_the_log(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    data_dir = tmp_path / "scoring"
    store = data_dir / "scoring.sqlite3"
    batch = owners_batch("d", owners=10, per_owner=5)
    owners = sorted(batch)
    with scoring_service(broker, data_dir) as service:
        send_batch(broker.bootstrap, batch)
        wait_until(lambda: all_scored(service, batch), timeout_s=60, what="state")
        truth = network(service, owners)
        damage_one_row(store, owners[0])
        with pytest.raises(grpc.RpcError) as caught:
            scores(service, owners[0])
        assert caught.value.code() == grpc.StatusCode.DATA_LOSS
        assert "checksum" in (caught.value.details() or "")
        assert network(service, owners[1:]) == {o: truth[o] for o in owners[1:]}

    output = refused_start(broker, data_dir)
    assert "failed their checksum" in output and "--rebuild-state" in output
    with scoring_service(broker, data_dir, "--rebuild-state", "true") as service:
        wait_until(lambda: rebuilt(service, truth), timeout_s=60, what="rebuilt state")

    for suffix in ("-wal", "-shm"):
        store.with_name(store.name + suffix).unlink(missing_ok=True)
    store.write_bytes(b"")  # truncated to zero length
    output = refused_start(broker, data_dir)
    assert "empty (0 bytes)" in output and "--rebuild-state" in output
    with scoring_service(broker, data_dir, "--rebuild-state", "true") as service:
        wait_until(lambda: rebuilt(service, truth), timeout_s=60, what="rebuilt state")


def history_scores(service: ServiceProcess, owner: str, as_of: float) -> dict[str, float]:
    request = pb.ListRelationshipsRequest(owner_id=owner, page_size=1000)
    set_seconds(request.as_of, as_of)
    with stub_for(service) as stub:
        reply = stub.ListRelationships(request, timeout=10)
    return {r.contact_id: r.score for r in reply.relationships}


def test_damaged_offsets_seen_ids_and_history_are_refused_then_rebuilt(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """Issue 22 point 2: numbers flipped outside the relationship rows were not detected
    (a flipped offset silently skips or repeats events)."""
    data_dir = tmp_path / "scoring"
    store = data_dir / "scoring.sqlite3"
    batch = owners_batch("h", owners=6, per_owner=4)
    owners = sorted(batch)
    past = T0 + 1.5  # before each owner's newest event: answered from its history
    with scoring_service(broker, data_dir) as service:
        send_batch(broker.bootstrap, batch)
        wait_until(lambda: all_scored(service, batch), timeout_s=60, what="state")
        truth = network(service, owners)
        assert len(history_scores(service, owners[0], past)) == 2
        with closing(sqlite3.connect(store, isolation_level=None, timeout=30)) as db:
            db.execute(
                "UPDATE event_history SET duration = duration + 60 WHERE rowid ="
                " (SELECT min(rowid) FROM event_history WHERE owner = ?)",
                (owners[0],),
            )
        with pytest.raises(grpc.RpcError) as caught:
            history_scores(service, owners[0], past)
        assert caught.value.code() == grpc.StatusCode.DATA_LOSS
        assert "event_history" in (caught.value.details() or "")
        assert len(history_scores(service, owners[1], past)) == 2  # the others still answer

    with closing(sqlite3.connect(store, isolation_level=None, timeout=30)) as db:
        # A partition's offset moved on by 3 (its 3 next events would be skipped) and
        # one seen event's time changed; the event_history row is still damaged.
        db.execute(
            "UPDATE offsets SET next_offset = next_offset + 3 WHERE partition ="
            " (SELECT min(partition) FROM offsets WHERE next_offset > 0)"
        )
        db.execute(
            "UPDATE seen_events SET occurred_at = occurred_at - 1 WHERE owner = ? AND"
            " event_id = (SELECT min(event_id) FROM seen_events WHERE owner = ?)",
            (owners[1], owners[1]),
        )
    output = refused_start(broker, data_dir)
    for table in ("offsets", "seen_events", "event_history"):
        assert f"1 row(s) of table {table}" in output, output
    assert "failed their checksum" in output and "--rebuild-state" in output
    with scoring_service(broker, data_dir, "--rebuild-state", "true") as service:
        wait_until(lambda: rebuilt(service, truth), timeout_s=60, what="rebuilt state")
        assert len(history_scores(service, owners[0], past)) == 2
