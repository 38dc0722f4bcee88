"""Acknowledged means kept: a crash of every process of `vinculo up` loses no event.

Real processes: `vinculo up` (broker, ingest, scoring), SIGSTOP of the scoring
process while events are acknowledged, SIGKILL of everything, `vinculo up`
again on the same ports and data directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from tests.harness import alive, children_of, reusable_ports, wait_until
from tests.integration.test_scoring_service import T0, contacts_of, interaction
from tests.integration.test_up import wait_ready
from vinculo.v1 import ingest_pb2, ingest_pb2_grpc, scoring_pb2_grpc

pytestmark = pytest.mark.integration

N = 600  # events, half to each of two owners
OWNERS = ("dana", "eli")


def start_up(ports: dict[str, int], data_dir: Path, log_path: Path) -> subprocess.Popen[bytes]:
    args = [
        *(sys.executable, "-m", "vinculo_apps.cli", "up", "--data-dir", str(data_dir)),
        *("--broker-port", str(ports["broker"])),
        *("--ingest-grpc-port", str(ports["ig"]), "--ingest-metrics-port", str(ports["im"])),
        *("--scoring-grpc-port", str(ports["sg"]), "--scoring-metrics-port", str(ports["sm"])),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VINCULO_")}
    with log_path.open("wb") as log:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)


def kill_all(up: subprocess.Popen[bytes], children: set[int]) -> None:
    """SIGKILL the whole stack, as a power cut or an OOM kill would."""
    for pid in (*children, up.pid):
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    up.wait()
    for pid in children:
        wait_until(lambda pid=pid: not alive(pid) or None, timeout_s=10, what=f"{pid} gone")


def messages(stub: scoring_pb2_grpc.ScoringServiceStub, owner: str) -> int:
    found = contacts_of(stub, owner)
    if not found:
        return 0
    counts = {c.kind: c.outbound for c in found["fay"].signals.counts}
    return counts.get("message", 0)


def assert_each_owner_scored_once(
    scoring_port: int, owners: tuple[str, ...] = OWNERS, each: int = N // 2
) -> None:
    """Every owner's `each` acknowledged events are scored, each exactly once."""
    with grpc.insecure_channel(f"127.0.0.1:{scoring_port}") as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        for owner in owners:
            wait_until(
                lambda owner=owner: messages(stub, owner) >= each or None,
                timeout_s=60,
                what=f"{owner}'s {each} events scored",
            )
        assert [messages(stub, owner) for owner in owners] == [each] * len(owners)  # once each


def test_acknowledged_events_survive_sigkill_of_every_process(tmp_path: Path) -> None:
    ports = reusable_ports()  # taken again after the crash
    data_dir, log_path = tmp_path / "data", tmp_path / "up.log"
    up = start_up(ports, data_dir, log_path)
    children: set[int] = set()
    try:
        wait_ready(up, log_path, timeout_s=60)
        children = children_of(up.pid)
        scoring_pid = next(
            pid for pid in children if "scoring_service" in Path(f"/proc/{pid}/cmdline").read_text()
        )
        os.kill(scoring_pid, signal.SIGSTOP)  # slow scoring: nothing is consumed
        events = [
            interaction(f"d-{i}", OWNERS[i % 2], "fay", T0 + i, owner_only=True) for i in range(N)
        ]
        with grpc.insecure_channel(f"127.0.0.1:{ports['ig']}") as channel:
            publish = ingest_pb2_grpc.IngestServiceStub(channel).PublishEvents
            for start in range(0, N, 200):
                batch = events[start : start + 200]
                reply = publish(ingest_pb2.PublishEventsRequest(events=batch), timeout=30)
                assert {r.status for r in reply.results} == {ingest_pb2.EVENT_STATUS_ACCEPTED}
        kill_all(up, children)

        log_path = tmp_path / "up-again.log"
        up = start_up(ports, data_dir, log_path)  # same ports: TIME_WAIT must not refuse them
        wait_ready(up, log_path, timeout_s=120)  # a refusal would end `vinculo up` at once
        assert "in use" not in log_path.read_text()
        children = children_of(up.pid)
        assert_each_owner_scored_once(ports["sg"])
    finally:
        kill_all(up, children)
    assert f"replayed {N} records" in (data_dir / "logs" / "ingest.log").read_text()
