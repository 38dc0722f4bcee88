"""The lifeline: end-of-file on the inherited pipe stops the process, within a grace."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vinculo.lifeline import EXIT_CODE, LifelineError, watch

CHILD = """
import signal, sys, threading
from vinculo.lifeline import watch
stop = threading.Event()
if sys.argv[2] == "graceful":
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
else:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a stop that never finishes
watch(int(sys.argv[1]), grace_s=0.5)
print("watching", flush=True)
stop.wait(30)
print("stopped", flush=True)
"""


def run_child(mode: str) -> tuple[int, str]:
    read_end, write_end = os.pipe()
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(read_end), mode],
            pass_fds=(read_end,),
            stdout=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(read_end)
    assert child.stdout is not None
    assert child.stdout.readline() == "watching\n"
    os.close(write_end)  # the launcher is gone
    out, _ = child.communicate(timeout=20)
    return child.returncode, out


def test_end_of_file_stops_the_process_gracefully() -> None:
    assert run_child("graceful") == (0, "stopped\n")


def test_a_stop_that_overruns_the_grace_exits_anyway() -> None:
    assert run_child("stuck") == (EXIT_CODE, "")


def test_no_lifeline_and_a_bad_fd() -> None:
    assert watch(-1) is None
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with pytest.raises(LifelineError, match=f"lifeline_fd: {read_end}"):
        watch(read_end)
