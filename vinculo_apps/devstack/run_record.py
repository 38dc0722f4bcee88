"""The run record: which processes a `vinculo up` started on a data directory.

`vinculo up` writes `<data_dir>/.vinculo-up.json` once its children are
spawned (and again after the supervisor restarts one): its own pid and each
child's, with each process's start time from /proc (clock ticks since boot).
Children die with `vinculo up` (vinculo.lifeline, the broker's parent-death
signal), but one can still survive: stopped (SIGSTOP) when its launcher died,
or killed between fork and its parent-death setting. The next `vinculo up` on
the same data directory reads the record first:

- the recorded `vinculo up` still runs: refuse, naming its pid (two stacks on
  one data directory would share the outbox and the state store);
- a recorded child still runs: stop it (SIGTERM, SIGCONT, then SIGKILL), with a
  log line naming it, before binding any port or taking any lock.

A pid is trusted only with the same start time: after a reboot or pid reuse the
number may name another process, which is left alone. A record that cannot be
read is reported and ignored (it names nothing we can check).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger("vinculo.up")

RECORD_NAME = ".vinculo-up.json"
LAUNCHER = "vinculo up"
POLL_S = 0.05


class AnotherRunActive(OSError):
    """A `vinculo up` recorded on this data directory is still running."""


@dataclass(frozen=True)
class RecordedProcess:
    label: str
    pid: int
    started: int  # /proc/<pid>/stat field 22: start time in clock ticks since boot

    def running(self) -> bool:
        """The same process (pid and start time) is still there and not a zombie."""
        return start_time(self.pid) == self.started


def start_time(pid: int) -> int | None:
    """The start time of a running process, None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)", which may hold spaces
    if fields[0] in ("Z", "X") and not _threads_left(pid):
        return None
    return int(fields[19])


def _threads_left(pid: int) -> bool:
    """Whether a process whose main thread is a zombie still has threads running: it
    is still exiting, and still holds its sockets (seen: its port refused for a moment
    after the main thread was reported gone)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    for task in tasks:
        try:
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            return True
    return False


def record_path(data_dir: Path) -> Path:
    return data_dir / RECORD_NAME


def write_record(data_dir: Path, children: dict[str, int]) -> None:
    """This process as the launcher and `children` (label -> pid), atomically."""
    entries = [(LAUNCHER, os.getpid()), *children.items()]
    processes = [
        asdict(RecordedProcess(label, pid, started))
        for label, pid in entries
        if (started := start_time(pid)) is not None
    ]
    path = record_path(data_dir)
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps({"processes": processes}, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, path)


def remove_record(data_dir: Path) -> None:
    record_path(data_dir).unlink(missing_ok=True)


def read_record(data_dir: Path) -> list[RecordedProcess]:
    path = record_path(data_dir)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        return [RecordedProcess(str(p["label"]), int(p["pid"]), int(p["started"]))
                for p in body["processes"]]  # fmt: skip
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the unreadable run record %s (%s)", path, exc)
        return []


def clear_previous_run(data_dir: Path, stop_timeout_s: float = 15.0) -> list[RecordedProcess]:
    """Stop what a previous `vinculo up` left running; return what was stopped.

    Raises AnotherRunActive if that `vinculo up` itself still runs."""
    recorded = [p for p in read_record(data_dir) if p.pid != os.getpid()]
    launcher = next((p for p in recorded if p.label == LAUNCHER and p.running()), None)
    if launcher is not None:
        raise AnotherRunActive(
            f"another `vinculo up` (pid {launcher.pid}) is running on {data_dir};"
            f" stop it first (Ctrl-C there, or kill {launcher.pid})"
        )
    survivors = [p for p in recorded if p.label != LAUNCHER and p.running()]
    for process in survivors:
        log.warning(
            "the previous run's %s (pid %d) is still running: stopping it",
            process.label, process.pid,
        )  # fmt: skip
        _signal(process, signal.SIGTERM)
        _signal(process, signal.SIGCONT)  # a stopped process acts on SIGTERM only once resumed
    _wait_gone(survivors, stop_timeout_s)
    for process in survivors:
        if process.running():
            log.warning("%s (pid %d) ignored SIGTERM: killing it", process.label, process.pid)
            _signal(process, signal.SIGKILL)
    _wait_gone(survivors, stop_timeout_s)
    if left := [p for p in survivors if p.running()]:
        raise AnotherRunActive(
            "could not stop the previous run's "
            + ", ".join(f"{p.label} (pid {p.pid})" for p in left)
        )
    remove_record(data_dir)
    return survivors


def _signal(process: RecordedProcess, signum: signal.Signals) -> None:
    if process.running():  # checked just before: never signal a reused pid
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.kill(process.pid, signum)


def _wait_gone(processes: list[RecordedProcess], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while any(p.running() for p in processes) and time.monotonic() < deadline:
        time.sleep(POLL_S)
