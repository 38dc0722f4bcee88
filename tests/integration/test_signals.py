"""A stop signal stops a service whichever of its threads the kernel hands it to.

A process-directed SIGTERM goes to any thread that does not block it; Python runs
the handler on the main thread, only once that thread wakes. Here the signal is
sent to one of the service's other threads (tgkill), as the kernel may do."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.harness import ServiceProcess
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration
STOP_WITHIN_S = 30.0  # a bound on a hang, not a speed: a clean stop takes ~1 s


def other_thread(pid: int) -> int:
    """The id of one of the process's threads that is not its main thread."""
    threads = sorted(int(tid) for tid in os.listdir(f"/proc/{pid}/task") if int(tid) != pid)
    assert threads, f"process {pid} has no thread besides its main one"
    return threads[0]


def tgkill(pid: int, tid: int, signum: int) -> None:
    if ctypes.CDLL(None, use_errno=True).tgkill(pid, tid, signum) != 0:
        raise OSError(ctypes.get_errno(), f"tgkill({pid}, {tid}, {signum})")


@pytest.mark.parametrize("module", ["ingest_service", "scoring_service"])
def test_sigterm_delivered_to_another_thread_stops_the_service(
    module: str, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    service = ServiceProcess(module, tmp_path / module, broker.bootstrap).start()
    try:
        assert service.process is not None
        pid = service.process.pid
        tgkill(pid, other_thread(pid), signal.SIGTERM)
        try:
            code = service.process.wait(STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{module} ignored a SIGTERM that reached another thread")
        assert code == 0
        assert "SIGTERM" in service.log_text()  # the handler ran: a clean stop, not a kill
    finally:
        service.stop()
