"""`vinculo up` restarts what dies, and gives up on what keeps dying.

Real processes: `vinculo up` as a user runs it, SIGKILL of its scoring process
and of its broker, events published meanwhile; a scoring service that cannot
start again (its store emptied) stops the stack after the restart limit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from tests.harness import alive, children_of, wait_until
from tests.integration.scoring_helpers import T0, interaction
from tests.integration.test_durable import kill_all, messages
from tests.integration.test_up import wait_ready
from vinculo.v1 import ingest_pb2, ingest_pb2_grpc, scoring_pb2_grpc
from vinculo_apps.devstack.broker import free_port
from vinculo_apps.devstack.processes import wait_serving

pytestmark = pytest.mark.integration

OWNER = "gus"


def start_up(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], dict[str, int], Path]:
    ports = {name: free_port() for name in ("broker", "ig", "im", "sg", "sm")}
    args = [
        *(sys.executable, "-m", "vinculo_apps.cli", "up", "--data-dir", str(tmp_path / "data")),
        *("--broker-port", str(ports["broker"])),
        *("--ingest-grpc-port", str(ports["ig"]), "--ingest-metrics-port", str(ports["im"])),
        *("--scoring-grpc-port", str(ports["sg"]), "--scoring-metrics-port", str(ports["sm"])),
        *("--restart-backoff-s", "0.2"),
        *extra,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VINCULO_")}
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        up = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    return up, ports, log_path


def child(up: subprocess.Popen[bytes], needle: str) -> int:
    """The pid of `vinculo up`'s child whose command line contains `needle`."""
    for pid in children_of(up.pid):
        try:
            if needle in Path(f"/proc/{pid}/cmdline").read_text():
                return pid
        except OSError:
            continue  # exited while we looked
    raise AssertionError(f"no child of vinculo up runs {needle}")


def publish(ingest: str, first: int, count: int) -> None:
    events = [
        interaction(f"s-{first + i}", OWNER, "fay", T0 + first + i, owner_only=True)
        for i in range(count)
    ]
    with grpc.insecure_channel(ingest) as channel:
        reply = ingest_pb2_grpc.IngestServiceStub(channel).PublishEvents(
            ingest_pb2.PublishEventsRequest(events=events), timeout=30
        )
    assert {r.status for r in reply.results} == {ingest_pb2.EVENT_STATUS_ACCEPTED}


def wait_scored(scoring: str, expected: int) -> None:
    """Until the scoring service (restarted, perhaps still starting) shows them all."""

    def scored(stub: scoring_pb2_grpc.ScoringServiceStub) -> int:
        try:
            return messages(stub, OWNER)
        except grpc.RpcError as exc:  # not listening yet, not ready, or busy starting
            assert exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            return -1

    with grpc.insecure_channel(scoring) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        wait_until(lambda: scored(stub) >= expected or None, 120, f"{expected} events scored")
        assert scored(stub) == expected  # each once


def test_a_killed_scoring_process_and_a_killed_broker_come_back_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    up, ports, log_path = start_up(tmp_path)
    ingest, scoring = f"127.0.0.1:{ports['ig']}", f"127.0.0.1:{ports['sg']}"
    children: set[int] = set()
    try:
        wait_ready(up, log_path, timeout_s=90)
        children = children_of(up.pid)
        publish(ingest, 0, 100)
        wait_scored(scoring, 100)

        os.kill(child(up, "scoring_service"), signal.SIGKILL)
        publish(ingest, 100, 100)  # acknowledged while no scoring process runs
        wait_until(lambda: "scoring restarted" in log_path.read_text(), 30, "scoring restarted")
        wait_serving(scoring, timeout_s=90)  # on the same port
        wait_scored(scoring, 200)

        os.kill(child(up, "tansu"), signal.SIGKILL)  # the in-memory log is gone
        wait_until(lambda: "broker restarted" in log_path.read_text(), 30, "broker restarted")
        wait_until(lambda: "rejoin its group" in log_path.read_text(), 60, "scoring restarted")
        wait_until(lambda: _try_publish(ingest, 200, 100), 60, "ingest accepts again")
        wait_scored(scoring, 300)  # the outbox replayed the first 200; no event twice
        children |= children_of(up.pid)
        assert up.poll() is None
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=60) == 0
    finally:
        kill_all(up, children | children_of(up.pid))
    text = log_path.read_text()
    assert "scoring exited with code -9; restart 1 of 5 within 300 s" in text
    assert "broker exited with code -9; restart 1 of 5 within 300 s" in text
    assert OWNER not in text and "fay" not in text  # no ids in the supervisor's lines


def _try_publish(ingest: str, first: int, count: int) -> bool:
    try:
        publish(ingest, first, count)
    except grpc.RpcError as exc:  # UNAVAILABLE until the producer reconnected
        assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc
        return False
    return True


def test_a_service_that_keeps_crashing_stops_the_stack_with_a_clear_message(
    tmp_path: Path,
) -> None:
    # A backoff of 3 s: the store below is damaged before the first restart opens it.
    up, _, log_path = start_up(tmp_path, "--restart-limit", "2", "--restart-backoff-s", "3")
    children: set[int] = set()
    try:
        wait_ready(up, log_path, timeout_s=90)
        children = children_of(up.pid)
        os.kill(child(up, "scoring_service"), signal.SIGKILL)
        # Its state store emptied: every start refuses it and exits 2 (until a rebuild).
        store = tmp_path / "data" / "scoring.sqlite3"
        for suffix in ("-wal", "-shm"):
            store.with_name(store.name + suffix).unlink(missing_ok=True)
        store.write_bytes(b"")
        assert up.wait(timeout=120) == 1
    finally:
        kill_all(up, children)
    assert not [pid for pid in children if alive(pid)]
    text = log_path.read_text()
    assert "scoring exited with code 2; restart 2 of 2" in text
    assert (
        "scoring exited with code 2 after 2 restarts within 300 s (limit 2); it keeps crashing;"
        " stopping the rest" in text
    )
    assert "stopped" in text
