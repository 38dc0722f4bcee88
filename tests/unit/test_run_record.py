"""The run record trusts a pid only with its start time, and stops only real survivors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vinculo_apps.devstack.run_record import (
    LAUNCHER,
    AnotherRunActive,
    clear_previous_run,
    read_record,
    record_path,
    start_time,
    write_record,
)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def record(data_dir: Path, *processes: tuple[str, int, int]) -> None:
    body = {"processes": [{"label": a, "pid": b, "started": c} for a, b, c in processes]}
    record_path(data_dir).write_text(json.dumps(body))


def test_a_survivor_is_stopped_and_the_record_removed(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    started = start_time(sleeper.pid)
    assert started is not None
    record(tmp_path, ("ingest", sleeper.pid, started))
    stopped = clear_previous_run(tmp_path, stop_timeout_s=10)
    assert [p.label for p in stopped] == ["ingest"]
    assert sleeper.wait(timeout=10) != 0  # it was signalled
    assert not record_path(tmp_path).exists()


def test_a_reused_pid_is_left_alone(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    started = start_time(sleeper.pid)
    assert started is not None
    record(tmp_path, ("ingest", sleeper.pid, started - 1), (LAUNCHER, sleeper.pid, started + 1))
    assert clear_previous_run(tmp_path) == []
    assert sleeper.poll() is None  # another process that happens to have the number


def test_a_running_launcher_refuses_the_start(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    started = start_time(sleeper.pid)
    assert started is not None
    record(tmp_path, (LAUNCHER, sleeper.pid, started), ("ingest", os.getpid(), 0))
    with pytest.raises(AnotherRunActive, match=rf"another `vinculo up` \(pid {sleeper.pid}\)"):
        clear_previous_run(tmp_path)
    assert sleeper.poll() is None and record_path(tmp_path).exists()


def test_an_unreadable_record_is_reported_and_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    record_path(tmp_path).write_text('{"processes": [{"pid": "x"')
    assert clear_previous_run(tmp_path) == []
    assert "ignoring the unreadable run record" in caplog.text


def test_the_record_names_this_process_and_its_children(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    write_record(tmp_path, {"broker": sleeper.pid, "gone": 2**22 + 7})
    found = {p.label: p for p in read_record(tmp_path)}
    assert set(found) == {LAUNCHER, "broker"}  # a pid that does not run is not recorded
    assert found[LAUNCHER].pid == os.getpid() and found[LAUNCHER].running()
    assert found["broker"].started == start_time(sleeper.pid)


# The main thread leaves with pthread_exit while another thread goes on: the process
# shows a zombie main thread yet still holds its files and sockets, as one does while
# a thread of it finishes a slow write during exit.
MAIN_THREAD_LEAVES_FIRST = """
import ctypes, threading, time
threading.Thread(target=time.sleep, args=(60,)).start()
print("ready", flush=True)
ctypes.CDLL(None).pthread_exit(None)
"""


def test_a_process_still_exiting_counts_as_running_until_its_last_thread_is_gone() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", MAIN_THREAD_LEAVES_FIRST], stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
        leader = Path(f"/proc/{process.pid}/stat")
        for _ in range(200):  # bounded: the main thread leaves right after printing
            if leader.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
            time.sleep(0.01)
        else:
            raise AssertionError("the main thread did not leave")
        assert start_time(process.pid) is not None  # a thread still runs
    finally:
        process.kill()
        process.wait()
    assert start_time(process.pid) is None
