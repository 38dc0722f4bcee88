"""`vinculo up` as a user runs it: a subprocess, health of both services, Ctrl-C, all gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import alive, children_of, wait_until
from vinculo_apps.devstack.broker import free_port
from vinculo_apps.devstack.processes import wait_serving

pytestmark = pytest.mark.integration


def wait_ready(up: subprocess.Popen[bytes], log_path: Path, timeout_s: float) -> None:
    """Until `vinculo up` logs that it is ready; fail at once if it exits."""

    def ready_or_exited() -> bool:
        if up.poll() is not None:
            pytest.fail(f"vinculo up exited ({up.poll()}):\n{log_path.read_text()}")
        return "ready" in log_path.read_text()

    wait_until(ready_or_exited, timeout_s, f"vinculo up to log ready (log: {log_path})")


def test_up_starts_everything_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("broker", "ig", "im", "sg", "sm")}
    args = [
        *(sys.executable, "-m", "vinculo_apps.cli", "up", "--data-dir", str(tmp_path / "data")),
        *("--broker-port", str(ports["broker"])),
        *("--ingest-grpc-port", str(ports["ig"]), "--ingest-metrics-port", str(ports["im"])),
        *("--scoring-grpc-port", str(ports["sg"]), "--scoring-metrics-port", str(ports["sm"])),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VINCULO_")}
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        up = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    children: set[int] = set()
    try:
        wait_ready(up, log_path, timeout_s=60)
        for port in (ports["ig"], ports["sg"]):
            wait_serving(f"127.0.0.1:{port}", timeout_s=5)
        children = children_of(up.pid)
        assert len(children) == 3, children  # broker, ingest, scoring

        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=40) == 0, log_path.read_text()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        for pid in children:  # never leave a process behind, pass or fail
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert not [pid for pid in children if alive(pid)]
    text = log_path.read_text()
    assert f"127.0.0.1:{ports['broker']}" in text and f"127.0.0.1:{ports['sg']}" in text
    assert "stopped" in text
