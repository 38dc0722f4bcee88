"""Per-thread views of a running process for the profiling scripts (`bench.profile_pipeline`,
`bench.ingest_cpu`): CPU seconds per thread from /proc, thread names from the kernel and
from py-spy, and a py-spy recorder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


def _py_spy() -> str:
    return shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))


def spy(out: Path, name: str, pid: int, gil: bool) -> subprocess.Popen[bytes]:
    args = [_py_spy(), "record", "--pid", str(pid), "--format", "raw", "--rate", "250",
            "--threads", "--nonblocking", "-o", str(out / f"{name}.txt")]  # fmt: skip
    if gil:  # only the thread holding the GIL: Python CPU, not threads waiting for it
        args.append("--gil")
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def thread_names(pid: int) -> dict[str, str]:
    """OS thread id -> Python thread name, from `py-spy dump` (Python names no OS thread)."""
    try:
        dump = subprocess.run(
            [_py_spy(), "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return dict(re.findall(r'Thread (\d+) \([^)]*\): "([^"]+)"', dump))


def kernel_thread_names(pid: int) -> dict[str, str]:
    """Kernel thread names (grpc's C threads are named there, not in Python)."""
    names = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            names[task.name] = "c:" + (task / "comm").read_text().strip()
        except OSError:
            continue
    return names


def thread_cpu(pid: int, names: dict[str, str]) -> dict[str, float]:
    """CPU seconds per thread (by name; threads of one name summed), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    spent: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        name = names.get(task.name) or f"tid {task.name}"
        spent[name] = spent.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return spent
