"""Children die with their launcher, and a new `vinculo up` clears what a crash left.

Real processes: `vinculo up` SIGKILLed alone (its broker, ingest and scoring
must go within seconds), a second `vinculo up` on a data directory in use, a
survivor (a child stopped with SIGSTOP when its launcher died) cleared by the
next `vinculo up`, and the test harness's own launcher killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from tests.harness import alive, children_of, reusable_ports, wait_until
from tests.integration.test_durable import assert_each_owner_scored_once, kill_all, start_up
from tests.integration.test_scoring_service import T0, interaction
from tests.integration.test_up import wait_ready
from vinculo.v1 import ingest_pb2, ingest_pb2_grpc

pytestmark = pytest.mark.integration

N = 400  # events, half to each of two owners
OWNERS = ("gia", "hal")
# Lifeline: ingest stops in ~0.2 s, scoring in ~1-2 s (commit); without it, never.
GONE_WITHIN_S = 30.0


def child(children: set[int], module: str) -> int:
    return next(pid for pid in children if module in Path(f"/proc/{pid}/cmdline").read_text())


def publish(ingest_port: int, events: list[object]) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{ingest_port}") as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        for start in range(0, len(events), 200):
            request = ingest_pb2.PublishEventsRequest(events=events[start : start + 200])
            reply = stub.PublishEvents(request, timeout=30)
            assert {r.status for r in reply.results} == {ingest_pb2.EVENT_STATUS_ACCEPTED}


def wait_gone(pids: set[int], timeout_s: float) -> float:
    """Seconds until none of `pids` runs; fails past `timeout_s`."""
    started = time.monotonic()
    wait_until(lambda: not [p for p in pids if alive(p)], timeout_s, f"{pids} gone")
    return time.monotonic() - started


def test_children_die_with_a_killed_up_and_the_next_up_scores_every_event_once(
    tmp_path: Path,
) -> None:
    ports, data_dir = reusable_ports(), tmp_path / "data"
    up = start_up(ports, data_dir, tmp_path / "up.log")
    children: set[int] = set()
    try:
        wait_ready(up, tmp_path / "up.log", timeout_s=60)
        children = children_of(up.pid)
        assert len(children) == 3, children  # broker, ingest, scoring
        events = [
            interaction(f"o-{i}", OWNERS[i % 2], "fay", T0 + i, owner_only=True) for i in range(N)
        ]
        publish(ports["ig"], events)  # every one acknowledged

        up.kill()  # vinculo up alone: its children are not signalled by anyone
        up.wait()
        wait_gone(children, timeout_s=GONE_WITHIN_S)

        # At once: the first attempt starts (a refusal would end `vinculo up`); how long
        # the start takes is the machine's load, not the subject.
        up = start_up(ports, data_dir, tmp_path / "up-again.log")
        wait_ready(up, tmp_path / "up-again.log", timeout_s=120)
        assert "in use" not in (tmp_path / "up-again.log").read_text()
        children = children_of(up.pid)
        assert_each_owner_scored_once(ports["sg"], OWNERS, N // 2)
    finally:
        kill_all(up, children)
    ingest_log = (data_dir / "logs" / "ingest.log").read_text()
    assert "the launcher is gone (lifeline closed): stopping" in ingest_log


def test_a_second_up_is_refused_and_a_survivor_of_a_crash_is_stopped(tmp_path: Path) -> None:
    ports, data_dir = reusable_ports(), tmp_path / "data"
    first = start_up(ports, data_dir, tmp_path / "first.log")
    later: list[subprocess.Popen[bytes]] = []
    children: set[int] = set()
    try:
        wait_ready(first, tmp_path / "first.log", timeout_s=60)
        children = children_of(first.pid)

        second = start_up(reusable_ports(), data_dir, tmp_path / "second.log")  # other ports
        later.append(second)
        assert second.wait(timeout=60) == 1
        text = (tmp_path / "second.log").read_text()
        assert f"another `vinculo up` (pid {first.pid}) is running on {data_dir}" in text, text
        assert all(alive(pid) for pid in children)  # the refusal touched nothing of the first

        ingest = child(children, "ingest_service")
        os.kill(ingest, signal.SIGSTOP)  # stopped when its launcher dies: it survives
        first.kill()
        first.wait()
        wait_gone(children - {ingest}, timeout_s=30)
        assert alive(ingest)  # holding its ports and the outbox lock

        third = start_up(ports, data_dir, tmp_path / "third.log")  # the same ports
        later.append(third)
        wait_ready(third, tmp_path / "third.log", timeout_s=60)
        assert not alive(ingest)
        text = (tmp_path / "third.log").read_text()
        assert f"the previous run's ingest (pid {ingest}) is still running: stopping it" in text
        children |= children_of(third.pid)
        publish(ports["ig"], [interaction("s-1", "gia", "fay", T0, owner_only=True)])
    finally:
        for up in later:
            kill_all(up, children_of(up.pid) if up.poll() is None else set())
        kill_all(first, children)


PARENT = """
import sys, time
from pathlib import Path
from vinculo_apps.devstack.broker import EmbeddedBroker
from vinculo_apps.devstack.stack import ServiceLaunch
root = Path(sys.argv[1])
broker = EmbeddedBroker(log_path=root / "broker.log").start()
ingest = ServiceLaunch("ingest_service", root / "ingest", broker.bootstrap, root / "ingest.log")
ingest.start()
print(broker.process.pid, ingest.process.pid, flush=True)
time.sleep(300)
"""


def test_the_harness_leaves_no_broker_or_service_behind_a_killed_test(tmp_path: Path) -> None:
    """What the tests start (EmbeddedBroker, ServiceLaunch) dies with a killed pytest worker."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    pids: set[int] = set()
    try:
        assert parent.stdout is not None
        pids = {int(pid) for pid in parent.stdout.readline().split()}
        assert len(pids) == 2 and all(alive(pid) for pid in pids), pids
        parent.kill()  # as pytest-timeout or an OOM kill would
        parent.wait()
        wait_gone(pids, timeout_s=GONE_WITHIN_S)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
